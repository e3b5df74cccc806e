/**
 * The reproduction report: tables, findings and Vega-Lite figures from a grid's results. A separate
 * entry point (`asymprop/report`) because Vega takes about a second to load, which the rest of the
 * library should not pay.
 *
 * @packageDocumentation
 * @module asymprop/report
 */
export { FINDING_THRESHOLDS, analyseResults, renderReport, spearman, type Finding, type RenderedReport, type ReportOptions, type ResultsAnalysis, type Verdict } from './experiments/report/index.js';
export { resultsJsonl, writeFileAtomic, writeReport } from './experiments/writeReport.js';

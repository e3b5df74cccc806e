/**
 * The reproduction report: tables, findings and Vega-Lite figures from a grid's results. A separate
 * entry point (`asymprop/report`) because Vega takes about a second to load, which the rest of the
 * library should not pay. Vega and Vega-Lite are optional dependencies of asymprop, which
 * `npm install asymprop` leaves out: install them (`npm install vega vega-lite`) to render reports;
 * without them rendering throws a {@link asymprop!MissingPackageError} that says so.
 *
 * @packageDocumentation
 * @module asymprop/report
 */
export { FINDING_THRESHOLDS, analyseResults, gridCoverage, renderReport, spearman, type GridCoverage, type Cell, type Finding, type LrResult, type RenderedReport, type ReportOptions, type ResultsAnalysis, type SeedRun, type Setting, type Table, type Verdict } from './experiments/report/index.js';
export { resultsJsonl, writeFileAtomic, writeReport, type WrittenReport } from './experiments/writeReport.js';
export { protocolDeviations } from './experiments/report/deviations.js';

// Writing your own feedback strategy, and checking it. Here: "sign-concordant with W's own
// magnitudes shuffled" — V has sign(W) everywhere, and |V| is a fixed random permutation of |W|.
import { MatrixFeedback, Rng, Dense, Tensor, defineStrategy, gradCheck, symmetric, type FeedbackContext, type FeedbackStrategy, type Storage } from 'asymprop';

class ShuffledMagnitudes extends MatrixFeedback {
  private readonly perm: Float64Array;
  constructor(strategy: FeedbackStrategy, context: FeedbackContext) {
    super(strategy, context);
    // Drawn once, from the layer's own generator (so the same seed gives the same V).
    this.perm = Float64Array.from(this.rng.permutation(this.size));
  }
  /** The arrays returned here are saved by state() and restored by loadState(). */
  protected override arrays(): Record<string, Float64Array> {
    return { perm: this.perm };
  }
  /** V[i] = |W[perm[i]]| · sign(W[i]). */
  protected fillMatrix(v: Storage, w: Storage): void {
    for (let i = 0; i < v.length; i++) v[i] = Math.abs(w[this.perm[i]!]!) * Math.sign(w[i]!);
  }
}

export function shuffledMagnitudes(): FeedbackStrategy {
  // The spec makes the strategy serialisable: feedbackFromSpec(spec, { 'shuffled-sf': shuffledMagnitudes })
  // rebuilds it, and the layer's feedback.state() saves its generator and the permutation.
  return defineStrategy({
    name: 'shuffled-sf',
    spec: { type: 'custom', name: 'shuffled-sf' },
    bind: (context, strategy) => new ShuffledMagnitudes(strategy, context),
  });
}

export function checkCustomStrategy(): { symmetricOk: boolean; customInputOk: boolean; customParamsOk: boolean; concordance: number } {
  const x = Tensor.zeros([4, 6], 'float64');
  new Rng(1).fillNormal(x.data);
  // Symmetric feedback passes the full check; the custom one changes only the input gradient.
  const bp = gradCheck(new Dense(6, 3, { rng: new Rng(2), feedback: symmetric() }), x);
  const layer = new Dense(6, 3, { rng: new Rng(2), feedback: shuffledMagnitudes() });
  const custom = gradCheck(layer, x);
  const paramsOnly = gradCheck(layer, x, { inputs: false });
  const v = layer.feedback.matrix(layer.weight.value)!;
  let same = 0;
  for (let i = 0; i < v.size; i++) if (Math.sign(v.data[i]!) === Math.sign(layer.weight.value.data[i]!)) same++;
  return { symmetricOk: bp.ok, customInputOk: custom.ok, customParamsOk: paramsOnly.ok, concordance: same / v.size };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(checkCustomStrategy());

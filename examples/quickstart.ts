// The README's API tour, runnable: `npm run example examples/quickstart.ts` or, after `npm run build`,
// through the test suite (test/examples.test.ts runs it with a small epoch count).
import { Rng, SGD, batchManhattan, brsf, mlp, protocolSchedule, randomFeedback, train, usf } from 'asymprop';
import { splitEmbeddedMnist } from 'asymprop/node';

export function quickstart(epochs = 3): number {
  // 1. Data: the 10,000 embedded MNIST digits, split 8,000 / 2,000 (fixed, seed-independent).
  const { train: trainSet, test } = splitEmbeddedMnist();

  // 2. A model: the protocol's mlp (784-256-256-10) with uniform sign-concordant feedback and the
  //    Batch Manhattan update in every layer, except the output layer, which uses random feedback.
  //    The function gets each dense layer's position among the weighted layers (0, 1, 2).
  const rng = new Rng(42); // every random draw in the run flows from this seed
  const model = mlp({ rng: rng.fork(), feedback: (weighted) => (weighted === 2 ? randomFeedback() : batchManhattan(usf())) });
  // setFeedback names layers by their index in model.layers: '1' is the first dense layer.
  model.setFeedback(batchManhattan(brsf()), rng.fork(), (index) => index === '1');

  // 3. The protocol's optimizer and schedule: momentum 0.9, weight decay 1e-4, lr/10 for the last 30%.
  const lr = 1e-3;
  const optimizer = new SGD(model.params(), { lr, momentum: 0.9, weightDecay: 1e-4 });

  // 4. Train, watching how far each layer's feedback strays from backprop.
  const result = train(model, { train: trainSet, test }, {
    optimizer,
    epochs,
    rng: rng.fork(),
    schedule: protocolSchedule(lr, epochs),
    instrument: true,
    onEpoch: (e) => {
      const s = e.feedback!['3']!;
      console.log(`epoch ${e.epoch}: test ${(e.testAccuracy * 100).toFixed(2)}%, ` +
        `layer 3: angle(V, W) ${s.angleVW.toFixed(1)}°, error angle ${s.errorAngle.toFixed(1)}°`);
    },
  });
  return result.testAccuracy;
}

if (import.meta.url === `file://${process.argv[1]}`) quickstart();

#!/usr/bin/env python3
"""Reference fixtures for asymprop's layers, computed independently with PyTorch.

Regenerate with any Python 3 that has PyTorch (1.13 or later):

    python3 scripts/make-torch-fixtures.py

This writes one JSON file per configuration under test/fixtures/torch/ (replacing the old ones).
The tests (test/torch-fixtures.test.ts) only read those JSON files: they never need PyTorch or
Python. Everything is float64 and seeded, so regenerating gives the same files.

Each file describes a small network as a list of layers (one layer for the per-layer fixtures,
several for the stacks) and holds:

  name        the configuration, also the file name
  strategy    feedback of the weighted (conv / dense) layers: "symmetric", "usf" or "fa";
              BatchNorm always keeps its exact (symmetric) backward
  mode        "train" (batch statistics) or "eval" (running statistics)
  layers      the layer specifications (kernel, stride, padding, ... always written out in full)
  x           the input
  params      every parameter, named as asymprop's Sequential names them ("<index>.weight", ...)
  feedback    for "fa": the fixed feedback matrix B of each weighted layer, keyed like params;
              B's values are float32 numbers (asymprop keeps B in float32)
  bn_state    per BatchNorm layer index: running mean / variance before and after the forward
  loss        {"type": "sum_product", "R": ...}: scalar loss sum(R * y), so the upstream gradient
              dL/dy is R; or {"type": "softmax_cross_entropy", "labels": [...], "value": L}: mean
              softmax cross-entropy over the batch
  y           the forward output
  dx          the gradient sent to the input
  grads       the gradient of every parameter (always the true one, whatever the feedback)

Arrays are stored flat in row-major order with their shape: {"shape": [...], "data": [...]};
floats are written with Python's repr (the shortest string that round-trips a float64).

Asymmetric feedback (Liao, Leibo & Poggio 2016): a weighted layer computes y = W x + b forward;
backward, its parameter gradients are the true ones, but the error sent to its input goes through a
feedback matrix V of W's shape instead of W (dense: dx = dy V; conv: the transposed convolution of dy
with V). usf: V = sign(W) with sign(0) = 0. fa: V = B, fixed.
"""

import json
import math
import os
import sys

import torch
import torch.nn.functional as F

DTYPE = torch.float64
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'torch')
MAX_FILE_BYTES = 100_000
MAX_TOTAL_BYTES = 1_000_000


# --- asymmetric feedback as autograd functions ---------------------------------------------------

class FeedbackConv2d(torch.autograd.Function):
    """y = conv2d(x, W, b); backward: true dW and db, dx = conv2d_input(dy, V)."""

    @staticmethod
    def forward(ctx, x, weight, bias, v, stride, padding):
        ctx.save_for_backward(x, weight, v)
        ctx.stride, ctx.padding, ctx.has_bias = stride, padding, bias is not None
        return F.conv2d(x, weight, bias, stride=stride, padding=padding)

    @staticmethod
    def backward(ctx, dy):
        x, weight, v = ctx.saved_tensors
        dx = torch.nn.grad.conv2d_input(x.shape, v, dy, stride=ctx.stride, padding=ctx.padding)
        dw = torch.nn.grad.conv2d_weight(x, weight.shape, dy, stride=ctx.stride, padding=ctx.padding)
        db = dy.sum(dim=(0, 2, 3)) if ctx.has_bias else None
        return dx, dw, db, None, None, None


class FeedbackLinear(torch.autograd.Function):
    """y = x Wᵀ + b; backward: true dW = dyᵀ x and db = Σ dy, dx = dy V."""

    @staticmethod
    def forward(ctx, x, weight, bias, v):
        ctx.save_for_backward(x, v)
        ctx.has_bias = bias is not None
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, dy):
        x, v = ctx.saved_tensors
        return dy @ v, dy.t() @ x, (dy.sum(dim=0) if ctx.has_bias else None), None


def feedback_matrix(strategy, weight, b):
    if strategy == 'usf':
        return torch.sign(weight.detach())  # sign(0) = 0
    if strategy == 'fa':
        return b
    raise ValueError(strategy)


# --- building and running a fixture ----------------------------------------------------------------

def pair(v):
    return [v, v] if isinstance(v, int) else list(v)


def conv(cin, cout, kernel, stride=1, padding=0, bias=True):
    return {'type': 'conv2d', 'in': cin, 'out': cout, 'kernel': pair(kernel), 'stride': pair(stride), 'padding': pair(padding), 'bias': bias}


def dense(fin, fout, bias=True):
    return {'type': 'dense', 'in': fin, 'out': fout, 'bias': bias}


def batchnorm(features):
    return {'type': 'batchnorm', 'features': features, 'eps': 1e-5, 'momentum': 0.1}


def maxpool(kernel, stride=None, padding=0):
    return {'type': 'maxpool', 'kernel': pair(kernel), 'stride': pair(kernel if stride is None else stride), 'padding': pair(padding)}


def avgpool(kernel, stride=None, padding=0, count_include_pad=True):
    return {'type': 'avgpool', 'kernel': pair(kernel), 'stride': pair(kernel if stride is None else stride), 'padding': pair(padding),
            'count_include_pad': count_include_pad}


def residual(main, shortcut=(), after=()):
    """A residual block: after(main(x) + shortcut(x)), each branch a list of (name, spec); no shortcut: the identity."""
    return {'type': 'residual', 'main': [list(m) for m in main], 'shortcut': [list(m) for m in shortcut], 'after': [list(m) for m in after]}


RELU = {'type': 'relu'}
FLATTEN = {'type': 'flatten'}
GAP = {'type': 'gap'}


def sublayers(key, spec):
    """A residual block's sublayers with their parameter-name prefixes, as asymprop's Residual names them."""
    return ([(f'{key}.{n}', sp) for n, sp in spec['main']] + [(f'{key}.shortcut.{n}', sp) for n, sp in spec['shortcut']]
            + [(f'{key}.{n}', sp) for n, sp in spec['after']])


def he_normal(shape, fan_in, scale=1.0):
    return torch.randn(*shape, dtype=DTYPE) * (scale * math.sqrt(2.0 / fan_in))


def make_params(layers, strategy, zero_weight):
    """Seeded parameters (and fa's B, rounded to float32 values), named like asymprop's Sequential."""
    params, fb, bn_before = {}, {}, {}

    def visit(i, spec):
        t = spec['type']
        if t == 'residual':
            for key, sub in sublayers(i, spec):
                visit(key, sub)
        elif t in ('conv2d', 'dense'):
            if t == 'conv2d':
                shape = [spec['out'], spec['in'], *spec['kernel']]
                fan_in = spec['in'] * spec['kernel'][0] * spec['kernel'][1]
            else:
                shape = [spec['out'], spec['in']]
                fan_in = spec['in']
            w = he_normal(shape, fan_in)
            if zero_weight:
                w.view(-1)[1] = 0.0  # sign(0) = 0 must hold for the feedback
            params[f'{i}.weight'] = w
            if spec['bias']:
                params[f'{i}.bias'] = 0.1 * torch.randn(spec['out'], dtype=DTYPE)
            if strategy == 'fa':
                fb[f'{i}.weight'] = he_normal(shape, fan_in).float().double()
        elif t == 'batchnorm':
            c = spec['features']
            params[f'{i}.weight'] = 1.0 + 0.3 * torch.randn(c, dtype=DTYPE)  # gamma
            params[f'{i}.bias'] = 0.2 * torch.randn(c, dtype=DTYPE)  # beta
            bn_before[str(i)] = {
                'running_mean_before': 0.5 * torch.randn(c, dtype=DTYPE),
                'running_var_before': 0.5 + torch.rand(c, dtype=DTYPE),
            }

    for i, spec in enumerate(layers):
        visit(str(i), spec)
    return params, fb, bn_before


def run(layers, strategy, mode, x, params, fb, bn_before, loss):
    """Forward and backward in PyTorch; returns y, the loss value (or None), and the leaf tensors."""
    training = mode == 'train'
    x = x.clone().requires_grad_(True)
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    running = {k: {'mean': s['running_mean_before'].clone(), 'var': s['running_var_before'].clone()} for k, s in bn_before.items()}

    def apply(i, spec, h):
        t = spec['type']
        w, b = leaves.get(f'{i}.weight'), leaves.get(f'{i}.bias')
        if t == 'residual':
            m = h
            for n, sub in spec['main']:
                m = apply(f'{i}.{n}', sub, m)
            s = h
            for n, sub in spec['shortcut']:
                s = apply(f'{i}.shortcut.{n}', sub, s)
            h = m + s
            for n, sub in spec['after']:
                h = apply(f'{i}.{n}', sub, h)
        elif t == 'gap':
            h = h.mean(dim=(2, 3))
        elif t == 'conv2d':
            stride, padding = tuple(spec['stride']), tuple(spec['padding'])
            if strategy == 'symmetric':
                h = F.conv2d(h, w, b, stride=stride, padding=padding)
            else:
                h = FeedbackConv2d.apply(h, w, b, feedback_matrix(strategy, w, fb.get(f'{i}.weight')), stride, padding)
        elif t == 'dense':
            if strategy == 'symmetric':
                h = F.linear(h, w, b)
            else:
                h = FeedbackLinear.apply(h, w, b, feedback_matrix(strategy, w, fb.get(f'{i}.weight')))
        elif t == 'batchnorm':
            r = running[str(i)]
            h = F.batch_norm(h, r['mean'], r['var'], w, b, training=training, momentum=spec['momentum'], eps=spec['eps'])
        elif t == 'relu':
            h = F.relu(h)
        elif t == 'maxpool':
            h = F.max_pool2d(h, tuple(spec['kernel']), tuple(spec['stride']), tuple(spec['padding']))
        elif t == 'avgpool':
            h = F.avg_pool2d(h, tuple(spec['kernel']), tuple(spec['stride']), tuple(spec['padding']),
                             count_include_pad=spec['count_include_pad'])
        elif t == 'flatten':
            h = h.flatten(1)
        else:
            raise ValueError(t)
        return h

    h = x
    for i, spec in enumerate(layers):
        h = apply(str(i), spec, h)
    y = h
    if loss['type'] == 'sum_product':
        value = (loss['R'] * y).sum()
    else:
        value = F.cross_entropy(y, loss['labels'])
    value.backward()
    return y.detach(), value.item(), x.grad, {k: v.grad for k, v in leaves.items()}, running


def self_check(layers, mode, x, params, bn_before, loss):
    """The feedback functions with V = W must reproduce plain autograd (guards the reference itself)."""
    sym = run(layers, 'symmetric', mode, x, params, {}, bn_before, loss)
    # The 'fa' path with B = W sends every weighted layer through the custom functions.
    weights = {k: v.clone() for k, v in params.items() if k.endswith('.weight') and k.rsplit('.', 1)[0] not in bn_before}
    fa = run(layers, 'fa', mode, x, params, weights, bn_before, loss)
    for a, b in [(sym[0], fa[0]), (sym[2], fa[2])] + [(sym[3][k], fa[3][k]) for k in sym[3]]:
        err = (a - b).abs().max().item()
        assert err < 1e-12, f'self-check failed: {err}'


def array(t):
    t = t.detach().to(DTYPE).contiguous()
    return {'shape': list(t.shape), 'data': [float(v) for v in t.view(-1).tolist()]}


def fixture(name, seed, layers, x_shape, strategy='symmetric', mode='train', loss='sum_product', x_scale=1.0, x_shift=0.0,
            zero_weight=False):
    torch.manual_seed(seed)
    params, fb, bn_before = make_params(layers, strategy, zero_weight)
    x = x_shift + x_scale * torch.randn(*x_shape, dtype=DTYPE)
    y_shape = run_shape(layers, x, params, bn_before, mode)
    if loss == 'sum_product':
        loss_spec = {'type': 'sum_product', 'R': torch.randn(*y_shape, dtype=DTYPE)}
    else:
        loss_spec = {'type': 'softmax_cross_entropy', 'labels': torch.randint(0, y_shape[1], (y_shape[0],))}
    self_check(layers, mode, x, params, bn_before, loss_spec)
    y, value, dx, grads, running = run(layers, strategy, mode, x, params, fb, bn_before, loss_spec)

    out = {
        'name': name,
        'strategy': strategy,
        'mode': mode,
        'layers': layers,
        'x': array(x),
        'params': {k: array(v) for k, v in params.items()},
    }
    if fb:
        out['feedback'] = {k: array(v) for k, v in fb.items()}
    if bn_before:
        out['bn_state'] = {
            k: {
                'running_mean_before': array(s['running_mean_before']),
                'running_var_before': array(s['running_var_before']),
                'running_mean': array(running[k]['mean']),
                'running_var': array(running[k]['var']),
            }
            for k, s in bn_before.items()
        }
    if loss_spec['type'] == 'sum_product':
        out['loss'] = {'type': 'sum_product', 'R': array(loss_spec['R'])}
    else:
        out['loss'] = {'type': 'softmax_cross_entropy', 'labels': [int(v) for v in loss_spec['labels'].tolist()], 'value': value}
    out['y'] = array(y)
    out['dx'] = array(dx)
    out['grads'] = {k: array(v) for k, v in grads.items()}
    return out


def run_shape(layers, x, params, bn_before, mode):
    """The output shape, from a plain forward (and a throwaway backward)."""
    sym = run(layers, 'symmetric', mode, x, params, {}, bn_before, {'type': 'sum_product', 'R': torch.tensor(0.0, dtype=DTYPE)})
    return list(sym[0].shape)


FIXTURES = [
    # Convolution: square and rectangular kernels, strides that do not divide the input, padding
    # on one axis only, no bias.
    ('conv2d_in2_out3_k3_s1_p1', dict(seed=1, layers=[conv(2, 3, 3, 1, 1)], x_shape=[2, 2, 5, 5])),
    ('conv2d_in3_out2_k3x2_s2_p1_oddsize', dict(seed=2, layers=[conv(3, 2, (3, 2), 2, 1)], x_shape=[2, 3, 7, 5])),
    ('conv2d_in2_out2_k2x3_s2x1_p0x1_nobias', dict(seed=3, layers=[conv(2, 2, (2, 3), (2, 1), (0, 1), bias=False)], x_shape=[2, 2, 5, 4])),
    # Single weighted layers with asymmetric feedback.
    ('conv2d_in2_out3_k3_s2_p1_usf', dict(seed=4, layers=[conv(2, 3, 3, 2, 1)], x_shape=[2, 2, 6, 5], strategy='usf', zero_weight=True)),
    ('conv2d_in2_out3_k3_s2_p1_fa', dict(seed=5, layers=[conv(2, 3, 3, 2, 1)], x_shape=[2, 2, 6, 5], strategy='fa')),
    # Dense.
    ('dense_in5_out4', dict(seed=6, layers=[dense(5, 4)], x_shape=[3, 5])),
    ('dense_in5_out4_usf', dict(seed=7, layers=[dense(5, 4)], x_shape=[3, 5], strategy='usf', zero_weight=True)),
    ('dense_in5_out4_nobias_fa', dict(seed=8, layers=[dense(5, 4, bias=False)], x_shape=[3, 5], strategy='fa')),
    # Pooling (odd input sizes, so the last window is partial or dropped).
    ('maxpool_k3_s2_p1', dict(seed=11, layers=[maxpool(3, 2, 1)], x_shape=[2, 2, 7, 6])),
    ('maxpool_k2_s2_p0', dict(seed=12, layers=[maxpool(2)], x_shape=[2, 2, 5, 6])),
    ('avgpool_k3_s2_p1', dict(seed=13, layers=[avgpool(3, 2, 1)], x_shape=[2, 2, 7, 6])),
    ('avgpool_k3_s2_p1_excludepad', dict(seed=14, layers=[avgpool(3, 2, 1, count_include_pad=False)], x_shape=[2, 2, 7, 6])),
    ('avgpool_k2_s2_p0', dict(seed=15, layers=[avgpool(2)], x_shape=[2, 2, 5, 6])),
    # BatchNorm (inputs off-centre and off-scale; running statistics start away from 0 and 1).
    ('batchnorm1d_train', dict(seed=21, layers=[batchnorm(4)], x_shape=[6, 4], x_scale=2.0, x_shift=0.7)),
    ('batchnorm1d_eval', dict(seed=22, layers=[batchnorm(4)], x_shape=[6, 4], mode='eval', x_scale=2.0, x_shift=0.7)),
    ('batchnorm2d_train', dict(seed=23, layers=[batchnorm(3)], x_shape=[3, 3, 4, 3], x_scale=1.5, x_shift=-0.4)),
    ('batchnorm2d_eval', dict(seed=24, layers=[batchnorm(3)], x_shape=[3, 3, 4, 3], mode='eval', x_scale=1.5, x_shift=-0.4)),
    # Small stacks with softmax cross-entropy (mean over the batch).
    ('stack_conv_bn_relu_maxpool_dense_symmetric',
     dict(seed=31, layers=[conv(2, 3, 3, 1, 1), batchnorm(3), RELU, maxpool(2), FLATTEN, dense(27, 5)], x_shape=[4, 2, 6, 6], loss='ce')),
    ('stack_conv_bn_relu_maxpool_dense_usf',
     dict(seed=32, layers=[conv(2, 3, 3, 1, 1), batchnorm(3), RELU, maxpool(2), FLATTEN, dense(27, 5)], x_shape=[4, 2, 6, 6], loss='ce',
          strategy='usf', zero_weight=True)),
    ('stack_conv_relu_avgpool_dense_fa',
     dict(seed=33, layers=[conv(2, 3, 3, 2, 1), RELU, avgpool(2), FLATTEN, dense(12, 4)], x_shape=[4, 2, 7, 7], loss='ce', strategy='fa')),
    ('stack_conv_bn_relu_conv_relu_dense_bn_relu_dense_fa',
     dict(seed=34, layers=[conv(1, 2, 3, 1, 1), batchnorm(2), RELU, conv(2, 3, 2, 2, 0), RELU, FLATTEN, dense(12, 6), batchnorm(6), RELU,
                           dense(6, 3)], x_shape=[5, 1, 5, 5], loss='ce', strategy='fa')),
    ('stack_dense_bn_relu_dense_usf',
     dict(seed=35, layers=[dense(6, 5), batchnorm(5), RELU, dense(5, 3)], x_shape=[8, 6], loss='ce', strategy='usf', zero_weight=True)),
    # A small residual network: a stem, an identity block and a projection block (stride 2) with BN,
    # global average pooling, a dense head; under backprop and under feedback alignment, where every
    # conv in the blocks, the shortcut's projection included, sends dY B down.
    *[(f'resnet_stem_identity_projection_gap_dense_{strategy}',
       dict(seed=seed, layers=[conv(2, 3, 3, 1, 1, bias=False), batchnorm(3), RELU,
                               residual([('conv1', conv(3, 3, 3, 1, 1, bias=False)), ('bn1', batchnorm(3)), ('relu1', RELU),
                                         ('conv2', conv(3, 3, 3, 1, 1, bias=False)), ('bn2', batchnorm(3))], after=[('relu', RELU)]),
                               residual([('conv1', conv(3, 4, 3, 2, 1, bias=False)), ('bn1', batchnorm(4)), ('relu1', RELU),
                                         ('conv2', conv(4, 4, 3, 1, 1, bias=False)), ('bn2', batchnorm(4))],
                                        shortcut=[('conv', conv(3, 4, 1, 2, 0, bias=False)), ('bn', batchnorm(4))], after=[('relu', RELU)]),
                               GAP, dense(4, 3)], x_shape=[4, 2, 6, 6], loss='ce', strategy=strategy))
      for seed, strategy in ((41, 'symmetric'), (42, 'fa'))],
]


# --- optimizers: torch.optim over several steps of given gradients -----------------------------------

OPTIM_DIR = os.path.join(os.path.dirname(OUT_DIR.rstrip('/')), 'torch-optim')

OPTIMIZERS = [
    ('adam', 'Adam', dict(lr=0.01)),
    ('adam_wd', 'Adam', dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ('adamw', 'AdamW', dict(lr=0.02, weight_decay=0.1)),
    ('rmsprop', 'RMSprop', dict(lr=0.01)),
    ('rmsprop_momentum_centered_wd', 'RMSprop', dict(lr=0.005, alpha=0.9, eps=1e-6, weight_decay=0.05, momentum=0.8, centered=True)),
]


def optim_fixture(name, cls, options, seed, steps=6):
    """Two parameters, `steps` seeded gradients (some exactly zero), the parameters after every step."""
    torch.manual_seed(seed)
    shapes = {'0.weight': [3, 4], '0.bias': [3]}
    params = {k: torch.randn(*s, dtype=DTYPE).requires_grad_(True) for k, s in shapes.items()}
    initial = {k: array(v) for k, v in params.items()}
    opt = getattr(torch.optim, cls)(list(params.values()), **options)
    grads, after = [], []
    for t in range(steps):
        g = {k: torch.randn(*s, dtype=DTYPE) * (0.1 + t) for k, s in shapes.items()}
        g['0.bias'][0] = 0.0
        for k, p in params.items():
            p.grad = g[k].clone()
        opt.step()
        grads.append({k: array(v) for k, v in g.items()})
        after.append({k: array(v) for k, v in params.items()})
    return {'name': name, 'optimizer': cls, 'options': {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()},
            'params': initial, 'grads': grads, 'after': after}


def main_optim():
    os.makedirs(OPTIM_DIR, exist_ok=True)
    for f in os.listdir(OPTIM_DIR):
        if f.endswith('.json'):
            os.remove(os.path.join(OPTIM_DIR, f))
    for i, (name, cls, options) in enumerate(OPTIMIZERS):
        with open(os.path.join(OPTIM_DIR, f'{name}.json'), 'w') as fh:
            fh.write(json.dumps(optim_fixture(name, cls, options, 100 + i), separators=(',', ':')) + '\n')
        print(f'torch-optim/{name}.json')


def main():
    main_optim()
    os.makedirs(OUT_DIR, exist_ok=True)
    for f in os.listdir(OUT_DIR):
        if f.endswith('.json'):
            os.remove(os.path.join(OUT_DIR, f))
    total = 0
    for name, kwargs in FIXTURES:
        text = json.dumps(fixture(name, **kwargs), separators=(',', ':')) + '\n'
        size = len(text.encode())
        assert size < MAX_FILE_BYTES, f'{name}: {size} bytes'
        total += size
        with open(os.path.join(OUT_DIR, f'{name}.json'), 'w') as fh:
            fh.write(text)
        print(f'{name}.json  {size} bytes')
    assert total < MAX_TOTAL_BYTES, f'total {total} bytes'
    print(f'{len(FIXTURES)} fixtures, {total} bytes, torch {torch.__version__}', file=sys.stderr)


if __name__ == '__main__':
    main()

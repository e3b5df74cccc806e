"""One PyTorch measurement in a fresh process, mirroring bench/worker.mjs.

    python3 bench/torch_worker.py <workload> --spec <json> --data <x.f32> <y.i32> [options]

The parent passes the workload's layer list (`--spec`, as bench/workloads.mjs resolves it) and
the synthetic data it wrote, so the network and the batches are the ones the JavaScript systems
train on. Options as in worker.mjs: --seconds, --min-steps, --max-steps, --max-seconds, --warmup,
--warmup-steps, --max-warmup, --no-warmup, --window; plus --threads N (default: all cores).
Prints one line `BENCH_RESULT {json}`.

    python3 bench/torch_worker.py --probe

imports torch and reports what it runs on (its version, the BLAS that serves its matrix products
and the core type OpenBLAS chose, its CPU capability) without training anything.
"""
import ctypes
import json
import os
import resource
import sys
import time

START = time.perf_counter()
BATCH = 100


def parse(argv):
    o = {"workload": argv[0], "seconds": 3.0, "min_steps": 2, "max_steps": float("inf"), "max_seconds": float("inf"),
         "warmup": 1.0, "warmup_steps": 0, "max_warmup": 10.0, "no_warmup": False, "window": 0, "threads": 0,
         "spec": None, "data": None, "lr": 0.01, "momentum": 0.9, "pool": 10}
    numeric = {"--seconds": "seconds", "--min-steps": "min_steps", "--max-steps": "max_steps", "--max-seconds": "max_seconds",
               "--warmup": "warmup", "--warmup-steps": "warmup_steps", "--max-warmup": "max_warmup", "--window": "window",
               "--threads": "threads", "--lr": "lr", "--momentum": "momentum", "--pool": "pool"}
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in numeric:
            o[numeric[a]] = float(argv[i + 1])
            i += 2
        elif a == "--spec":
            o["spec"] = json.loads(argv[i + 1])
            i += 2
        elif a == "--data":
            o["data"] = (argv[i + 1], argv[i + 2])
            i += 3
        elif a == "--no-warmup":
            o["no_warmup"] = True
            i += 1
        elif a == "--strategy":  # asymprop only; ignored here
            i += 2
        else:
            raise SystemExit(f"unknown option {a}")
    return o


def block(torch, l):
    """A basic residual block with BN, as bench/workloads.mjs defines it."""
    nn = torch.nn
    c_in, c, stride = l["input"][0], l["filters"], l["stride"]

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c, 1, stride=stride, bias=False), nn.BatchNorm2d(c)) if l["projection"] else nn.Identity()

        def forward(self, x):
            y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            return torch.relu(y + self.shortcut(x))

    return Block()


def build(torch, spec):
    nn = torch.nn
    layers = []
    for i, l in enumerate(spec):
        t = l["type"]
        if t == "flatten":
            layers.append(nn.Flatten())
        elif t == "relu":
            layers.append(nn.ReLU())
        elif t == "dense":
            layers.append(nn.Linear(l["input"][0], l["units"]))
        elif t == "bn":
            layers.append(nn.BatchNorm1d(l["input"][0]) if len(l["input"]) == 1 else nn.BatchNorm2d(l["input"][0]))
        elif t == "conv":
            layers.append(nn.Conv2d(l["input"][0], l["filters"], l["kernel"], stride=l.get("stride", 1), padding=l["padding"], bias=l.get("bias", True)))
        elif t == "block":
            layers.append(block(torch, l))
        elif t == "gap":
            layers.append(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()))
        elif t == "maxpool":
            layers.append(nn.MaxPool2d(l["kernel"], stride=l["stride"], padding=l["padding"]))
        else:
            raise ValueError(f"no layer for {t}")
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def subnormals(torch, model, optimizer):
    tiny = torch.finfo(torch.float32).tiny
    count = total = 0
    tensors = [p.detach() for p in model.parameters()]
    tensors += [s["momentum_buffer"] for s in optimizer.state.values() if s.get("momentum_buffer") is not None]
    for t in tensors:
        count += int(((t != 0) & (t.abs() < tiny)).sum())
        total += t.numel()
    return {"count": count, "total": total}


def mapped_libraries(*words):
    """The shared libraries mapped into this process whose path contains one of `words`."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if ".so" in line}
    except OSError:
        return []
    return sorted(p for p in paths if any(w in p.lower() for w in words))


class DlInfo(ctypes.Structure):
    """glibc's Dl_info, which dladdr fills in."""
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def symbol_provider(library, symbol):
    """The file that defines `symbol` as `library` sees it (itself, then its dependencies), or None."""
    try:
        address = ctypes.cast(getattr(library, symbol), ctypes.c_void_p)
    except AttributeError:
        return None
    libc = ctypes.CDLL(None)
    libc.dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(DlInfo)]
    info = DlInfo()
    if not libc.dladdr(address, ctypes.byref(info)) or not info.dli_fname:
        return None
    return os.path.realpath(info.dli_fname.decode())


def blas_info():
    """Which BLAS serves torch's float32 matrix products (torch must be imported).

    The answer is the library that defines `sgemm_` as libtorch_cpu sees it: with several BLAS
    libraries mapped (say Debian's reference libblas.so.3 first on LD_LIBRARY_PATH and OpenBLAS
    pulled in by liblapack.so.3), the first one in libtorch_cpu's search order is the one called.
    OpenBLAS reports its version and the core type it chose (its kernels) through its own API.
    """
    mapped = mapped_libraries("blas", "lapack", "mkl", "blis", "atlas")
    torch_cpu = mapped_libraries("libtorch_cpu")
    path = symbol_provider(ctypes.CDLL(torch_cpu[0]), "sgemm_") if torch_cpu else None
    info = {"name": "unknown", "library": path, "mapped": mapped, "reference": False}
    if path is None:
        return info
    library = ctypes.CDLL(path)  # already loaded: this only returns a handle to it
    if hasattr(library, "openblas_get_corename"):
        for function in (library.openblas_get_config, library.openblas_get_corename):
            function.restype = ctypes.c_char_p
        config = library.openblas_get_config().decode()
        words = config.split()
        info.update(name="OpenBLAS", version=words[1] if len(words) > 1 else None,
                    corename=library.openblas_get_corename().decode(), config=config)
    elif hasattr(library, "bli_info_get_version_str"):
        info.update(name="BLIS")
    elif "mkl" in path.lower():
        info.update(name="MKL")
    elif "/atlas/" in path:
        info.update(name="ATLAS")
    elif "/blas/" in path:
        # Debian's libblas3: the Netlib reference implementation, plain loops.
        info.update(name="reference BLAS", reference=True)
    return info


def torch_info(torch):
    """What torch runs on: its version, threads, BLAS, and the CPU kernels ATen chose."""
    capability = next((line.split(":", 1)[1].strip() for line in torch.__config__.show().splitlines()
                       if "CPU capability usage" in line), None)
    return {"version": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_info(),
            "cpuCapability": capability, "mkldnn": torch.backends.mkldnn.is_available()}


def probe():
    result = {"ok": False}
    try:
        import numpy  # noqa: F401  (the worker needs it too)
        import torch
        result.update(torch_info(torch), ok=True)
    except Exception as e:  # reported to the parent, which notes it
        result["error"] = f"{type(e).__name__}: {e}".split("\n")[0]
    sys.stdout.write("\nBENCH_RESULT " + json.dumps(result) + "\n")


def main():
    o = parse(sys.argv[1:])
    result = {"system": "pytorch", "workload": o["workload"], "strategy": "bp"}
    try:
        import numpy as np
        import torch
        import_sec = time.perf_counter() - START
        if o["threads"] > 0:
            torch.set_num_threads(int(o["threads"]))
        torch.manual_seed(1)
        spec = o["spec"]
        first = spec[0]["input"]
        x = torch.from_numpy(np.fromfile(o["data"][0], dtype="<f4")).reshape(-1, *first)
        y = torch.from_numpy(np.fromfile(o["data"][1], dtype="<i4").astype(np.int64))
        pool = int(o["pool"])
        batches = [(x[b * BATCH:(b + 1) * BATCH].contiguous(), y[b * BATCH:(b + 1) * BATCH].contiguous()) for b in range(pool)]
        model = build(torch, spec)
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=o["lr"], momentum=o["momentum"])
        loss_fn = torch.nn.CrossEntropyLoss()

        def step(b):
            xb, yb = batches[b]
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            return loss.item()

        result["readyAtMs"] = time.time() * 1000
        result["readySinceStartSec"] = time.perf_counter() - START
        result["importSec"] = import_sec

        n = 0
        losses = []
        now = time.perf_counter
        warm_start = now()
        if not o["no_warmup"]:
            while True:
                losses.append(step(n % pool))
                n += 1
                t = now() - warm_start
                if t >= o["warmup"] and (n >= o["warmup_steps"] or t >= o["max_warmup"]):
                    break
        result["warmupSec"] = now() - warm_start
        result["warmupSteps"] = n
        times, windows, window_time = [], [], 0.0
        timed_start = now()
        while True:
            t0 = now()
            losses.append(step(n % pool))
            n += 1
            dt = now() - t0
            times.append(dt)
            window_time += dt
            if o["window"] > 0 and len(times) % int(o["window"]) == 0:
                windows.append({"endStep": n, "samplesPerSec": o["window"] * BATCH / window_time, "subnormals": subnormals(torch, model, optimizer)})
                window_time = 0.0
            elapsed = now() - timed_start
            if len(times) >= o["max_steps"] or elapsed >= o["max_seconds"]:
                break
            if elapsed >= o["seconds"] and len(times) >= o["min_steps"]:
                break
        timed = sum(times)
        st = sorted(times)
        med = st[len(st) // 2] if len(st) % 2 else (st[len(st) // 2 - 1] + st[len(st) // 2]) / 2
        result.update({
            "steps": len(times), "timedSec": timed, "samplesPerSec": len(times) * BATCH / timed,
            "stepMs": {"median": med * 1e3, "min": st[0] * 1e3, "max": st[-1] * 1e3},
            "firstLoss": losses[0], "lastLoss": losses[-1], "finite": all(l == l and abs(l) != float("inf") for l in losses),
            "coldOnly": o["no_warmup"],
            "subnormals": subnormals(torch, model, optimizer),
            "info": {**torch_info(torch), "flushDenormal": False},
            "ok": True,
        })
        if o["window"] > 0:
            result["windows"] = windows
    except Exception as e:  # reported to the parent, which notes it
        result["ok"] = False
        result["error"] = f"{type(e).__name__}: {e}".split("\n")[0]
    result["peakRssMB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout.write("\nBENCH_RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    if sys.argv[1:] == ["--probe"]:
        probe()
    else:
        main()

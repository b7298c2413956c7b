#!/usr/bin/env python3
"""CrypTen 0.4.1 baseline on the benchmark models' ONNX files (2 parties, CPU, TFP).

What it measures
    For each NAME in resnet18, resnet50, mobilenet_v2, wav2letter it runs private inference
    on exactly the files benches/models/make_models.py writes to benches/models/out/:
    NAME.onnx is imported with crypten.nn.from_onnx, the model is encrypted from party 0
    (cm.encrypt(src=0)), NAME.input.npy is encrypted from party 1, and the output is compared
    with NAME.output.npy (torch's output). If from_onnx refuses a file, its exact error is
    recorded and crypten.nn.from_pytorch(model, dummy) is tried on the same model rebuilt by
    make_models.make(NAME) (same seed and BatchNorm statistics); the result says which path
    ran.

Methodology (as shared/peer-baseline/crypten/bench.py)
    Each model runs in its own crypten.mpc.run_multiprocess(world_size=2) launch, default
    TFP provider (trusted first party: party 0 generates Beaver triples from shared seeds,
    inside the timed op), torch.set_num_threads(threads) per party (default 1):
      1. setup (import, encryption of weights and input): not timed
      2. one warm-up inference with cfg.communicator.verbose=True -> CrypTen's communication
         stats of one inference (rounds and bytes as each party counts them), and the
         output is revealed and decoded exactly (ring element / 2^16: CrypTen 0.4.1's
         get_plain_text is off by 1.0 for some negative values; see bench.py) and compared
         with NAME.output.npy
      3. timed inferences (barrier before each); a repetition's time is the max over the
         two parties; reported time = median. Default reps: 3, and 2 for resnet50; if the
         warm-up took more than 600 s, 1 timed rep.

How to run
    venv/bin/python benches/models/make_models.py          # writes benches/models/out/
    venv/bin/python benches/models/crypten_onnx.py [--only resnet18,...] [--reps N]
    (venv: torch 2.8, torchvision 0.23, torchaudio 2.8, onnx, crypten 0.4.1; several minutes
    per large model on a 2-core machine; run it under nohup.)
    It writes crypten-onnx-results.json and crypten-onnx-results.md next to itself
    (with --only: crypten-onnx-results_partial.*). If out/default-bn/ exists
    (make_models.py --default-bn), it also records whether CrypTen can import those
    default-BatchNorm exports (import only, no MPC).
"""

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
import traceback
import warnings

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import crypten  # noqa: E402
import crypten.communicator as comm  # noqa: E402
import crypten.mpc as mpc  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_models  # noqa: E402

OUT = os.path.join(HERE, "out")
SEED = 1234
MODEL_SRC, DATA_SRC = 0, 1
MODELS = ["resnet18", "mobilenet_v2", "wav2letter", "resnet50"]
DEFAULT_REPS = {"resnet18": 3, "mobilenet_v2": 3, "wav2letter": 3, "resnet50": 2}
ONE_REP_AFTER_S = 600.0


def decode_exact(ct):
    t = ct._tensor
    return t.reveal().double() / t.encoder.scale


def run_model(name, reps, threads):
    path = os.path.join(OUT, f"{name}.onnx")
    x = torch.from_numpy(np.load(os.path.join(OUT, f"{name}.input.npy")))
    ref = torch.from_numpy(np.load(os.path.join(OUT, f"{name}.output.npy"))).double()

    @mpc.run_multiprocess(world_size=2)
    def party():
        torch.set_num_threads(threads)
        rank = comm.get().get_rank()
        torch.manual_seed(SEED)
        out = {"rank": rank}
        try:
            t0 = time.perf_counter()
            try:
                with open(path, "rb") as f:
                    cm = crypten.nn.from_onnx(f)
                out["import"] = "from_onnx"
            except Exception as e:
                # refused: record why, then try from_pytorch on the same model
                out["from_onnx_error"] = f"{type(e).__name__}: {e}"
                out["import"] = "from_pytorch"
                model, _ = make_models.make(name)
                cm = crypten.nn.from_pytorch(model, torch.empty_like(x))
            cm.encrypt(src=MODEL_SRC)
            cm.eval()
            xe = crypten.cryptensor(x, src=DATA_SRC)
            out["setup_s"] = time.perf_counter() - t0

            def op():
                with crypten.no_grad():
                    return cm(xe)

            crypten.cfg.communicator.verbose = True
            comm.get().barrier()
            comm.get().reset_communication_stats()
            t0, c0 = time.perf_counter(), time.process_time()
            res = op()
            out["first_s"] = time.perf_counter() - t0
            out["first_cpu_s"] = time.process_time() - c0
            out["stats"] = dict(comm.get().get_communication_stats())
            crypten.cfg.communicator.verbose = False
            comm.get().reset_communication_stats()

            plain = decode_exact(res).reshape(ref.shape)
            stock = res.get_plain_text().double().reshape(ref.shape)
            diff = (plain - ref).abs()
            out["check"] = {
                "out_shape": list(ref.shape),
                "ref_max_abs": ref.abs().max().item(),
                "max_abs_err": diff.max().item(),
                "mean_abs_err": diff.mean().item(),
                "max_abs_err_stock_decode": (stock - ref).abs().max().item(),
                "argmax_agrees": bool(
                    (plain.reshape(ref.shape[0], ref.shape[1], -1).argmax(1)
                     == ref.reshape(ref.shape[0], ref.shape[1], -1).argmax(1)).all()
                ),
            }
            del res

            # both parties must run the same number of reps: party 0's warm-up decides
            first = comm.get().broadcast(torch.tensor([out["first_s"]], dtype=torch.float64), 0)
            n = 1 if first.item() > ONE_REP_AFTER_S else reps
            times, cpu = [], []
            for _ in range(n):
                comm.get().barrier()
                t0, c0 = time.perf_counter(), time.process_time()
                res = op()
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                del res
            comm.get().barrier()
            out["times"] = times
            out["cpu_times"] = cpu
        except Exception as e:
            out["error"] = f"{type(e).__name__}: {e}"
            out["traceback"] = traceback.format_exc()
        return out

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    results = party()
    wall = time.perf_counter() - t0
    row = {"name": name, "onnx": os.path.relpath(path, HERE), "case_wall_s": wall,
           "loadavg_1_5_15_before": [round(v, 2) for v in load_before],
           "loadavg_1_5_15_after": [round(v, 2) for v in os.getloadavg()]}
    if results is None or len(results) != 2:
        row["error"] = "a party process failed (see log)"
        return row
    r0, r1 = sorted(results, key=lambda r: r["rank"])
    for k in ("import", "from_onnx_error"):
        if k in r0:
            row[k] = r0[k]
    if "error" in r0 or "error" in r1:
        row["error"] = r0.get("error") or r1.get("error")
        sys.stderr.write(r0.get("traceback", "") or r1.get("traceback", ""))
        return row
    times = [max(a, b) for a, b in zip(r0["times"], r1["times"])]
    cpu = [max(a, b) for a, b in zip(r0["cpu_times"], r1["cpu_times"])]
    s0, s1 = r0["stats"], r1["stats"]
    row.update({
        "reps": len(times),
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "times_s": times,
        "median_cpu_s": statistics.median(cpu),
        "cpu_times_s": cpu,
        "cpu_times_s_p0": r0["cpu_times"],
        "cpu_times_s_p1": r1["cpu_times"],
        "warmup_cpu_s": max(r0["first_cpu_s"], r1["first_cpu_s"]),
        "warmup_s": max(r0["first_s"], r1["first_s"]),
        "setup_s": max(r0["setup_s"], r1["setup_s"]),
        "rounds_p0": s0["rounds"],
        "rounds_p1": s1["rounds"],
        "bytes_p0": int(s0["bytes"]),
        "bytes_p1": int(s1["bytes"]),
        "bytes_total": int((s0["bytes"] + s1["bytes"]) / 2),
        "comm_time_p0_s": s0["time"],
        "comm_time_p1_s": s1["time"],
        **r0["check"],
    })
    return row


def import_check_default_bn():
    """Can CrypTen import the default-BatchNorm exports (make_models.py --default-bn)?"""
    d = os.path.join(OUT, "default-bn")
    rows = []
    if not os.path.isdir(d):
        return rows
    for name in MODELS:
        path = os.path.join(d, f"{name}.onnx")
        if not os.path.exists(path):
            continue
        row = {"name": name, "onnx": os.path.relpath(path, HERE)}
        try:
            with open(path, "rb") as f:
                crypten.nn.from_onnx(f)
            row["from_onnx"] = "ok"
        except Exception as e:
            row["from_onnx"] = f"{type(e).__name__}: {e}"
        try:
            model, shape = make_models.make(name, default_bn=True)
            crypten.nn.from_pytorch(model, torch.empty(*shape))
            row["from_pytorch"] = "ok"
        except Exception as e:
            row["from_pytorch"] = f"{type(e).__name__}: {e}"
        print(f"default-bn {name}: from_onnx: {row['from_onnx']}; from_pytorch: {row['from_pytorch']}",
              flush=True)
        rows.append(row)
    return rows


def fmt_bytes(b):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(b) < 1024 or unit == "GiB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.2f} {unit}"
        b /= 1024


def make_table(rows):
    lines = [
        "| model | import | median s | min s | reps | median CPU s | warm-up s | rounds P0 / P1 | bytes P0 | bytes P1 | bytes total | max abs err | \\|out\\| max | argmax agrees | load avg (1 min) before / after |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        if "error" in r:
            msg = r["error"]
            if r.get("from_onnx_error"):
                msg = f"from_onnx: {r['from_onnx_error']}; from_pytorch: {msg}"
            lines.append(f"| {r['name']} | REFUSED / FAILED: {msg} | | | | | | | | | | | | | |")
            continue
        imp = r["import"] + (f" (from_onnx: {r['from_onnx_error']})" if r.get("from_onnx_error") else "")
        lines.append(
            f"| {r['name']} | {imp} | {r['median_s']:.2f} | {r['min_s']:.2f} | {r['reps']} | "
            f"{r['median_cpu_s']:.2f} | {r['warmup_s']:.2f} | {r['rounds_p0']} / {r['rounds_p1']} | {fmt_bytes(r['bytes_p0'])} | "
            f"{fmt_bytes(r['bytes_p1'])} | {fmt_bytes(r['bytes_total'])} | {r['max_abs_err']:.3g} | "
            f"{r['ref_max_abs']:.3g} | {'yes' if r['argmax_agrees'] else 'no'} | "
            f"{r['loadavg_1_5_15_before'][0]:.2f} / {r['loadavg_1_5_15_after'][0]:.2f} |"
        )
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--reps", type=int, default=0, help="timed reps (default: per model)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per party")
    args = ap.parse_args()
    logging.getLogger().setLevel(logging.WARNING)

    sel = [s for s in args.only.split(",") if s]
    names = [n for n in MODELS if not sel or n in sel]
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "crypten": getattr(crypten, "__version__", "?"),
        "cpu_count": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "threads_per_party": args.threads,
        "provider": "TFP (trusted first party, CrypTen default)",
        "precision_bits": 16,
    }
    for mod in ("torchvision", "torchaudio", "onnx"):
        try:
            env[mod] = __import__(mod).__version__
        except Exception:
            env[mod] = None
    try:
        with open("/proc/cpuinfo") as f:
            env["cpu"] = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except Exception:
        pass
    print(json.dumps(env), flush=True)

    rows = []
    t_all = time.perf_counter()
    for name in names:
        if not os.path.exists(os.path.join(OUT, f"{name}.onnx")):
            print(f"{name}: {OUT}/{name}.onnx missing; run make_models.py first", flush=True)
            continue
        reps = args.reps or DEFAULT_REPS[name]
        r = run_model(name, reps, args.threads)
        rows.append(r)
        if "error" in r:
            print(f"{name}: FAILED {r.get('from_onnx_error', '')} / {r['error']}", flush=True)
        else:
            print(
                f"{name}: {r['import']}, median {r['median_s']:.2f}s (reps {r['reps']}, "
                f"warm-up {r['warmup_s']:.1f}s), rounds {r['rounds_p0']}, bytes P0 {r['bytes_p0']}, "
                f"total {r['bytes_total']}, max abs err {r['max_abs_err']:.3g} "
                f"(|out| max {r['ref_max_abs']:.3g}), case wall {r['case_wall_s']:.1f}s",
                flush=True,
            )
    default_bn = import_check_default_bn()
    total = time.perf_counter() - t_all

    table = make_table(rows)
    print("\n" + table)
    print(f"\ntotal time {total:.1f}s")
    suffix = "_partial" if sel else ""
    with open(os.path.join(HERE, f"crypten-onnx-results{suffix}.json"), "w") as f:
        json.dump({"env": env, "total_s": total, "results": rows,
                   "default_bn_import_check": default_bn}, f, indent=2)
    with open(os.path.join(HERE, f"crypten-onnx-results{suffix}.md"), "w") as f:
        f.write("# CrypTen 0.4.1 on the benchmark ONNX models (2 parties, TFP, CPU)\n\n")
        f.write("Generated by `crypten_onnx.py` from the files `make_models.py` writes.\n\n")
        f.write("```\n" + json.dumps(env, indent=1) + "\n```\n\n")
        f.write(table + "\n\n")
        f.write(
            "- time: median wall-clock of the timed repetitions after one warm-up; per repetition the max "
            "over the two parties (barrier before each). One thread per party. Model weights encrypted "
            "from party 0, input from party 1, both processes on this one machine (loopback, gloo).\n"
            "- median CPU s: the same repetitions' CPU time (time.process_time of the party's process, all "
            "its threads; max over the two parties). Less sensitive than wall time to other work on the "
            "machine; the 1-minute load average before and after each model shows how busy it was "
            f"(both parties together load it by about 2 on {os.cpu_count()} CPUs).\n"
            "- rounds / bytes: CrypTen's communicator stats (cfg.communicator.verbose=True) of the warm-up "
            "inference, as each party counts them (8 bytes per ring element; all_reduce counted as send + "
            "receive); bytes total = (P0 + P1) / 2, CrypTen's system-total convention.\n"
            "- TFP: Beaver triples and random bits are generated by party 0 from shared seeds during the op, "
            "so their generation is in the time and costs no communication (no offline phase).\n"
            "- max abs err: exactly decoded output (revealed ring element / 2^16) against torch's float32 "
            "output in NAME.output.npy; |out| max is the largest |torch output|. The stock "
            "get_plain_text error is in the JSON as max_abs_err_stock_decode. argmax agrees: the "
            "top-1 class (per frame for wav2letter) is the same as torch's.\n"
            "- wav2letter's output is log_softmax over 40 classes for 51 frames.\n"
            f"- total time {total:.1f}s\n"
        )
        if default_bn:
            f.write("\nDefault-BatchNorm exports (`make_models.py --default-bn`, import only):\n\n")
            f.write("| model | from_onnx | from_pytorch |\n|---|---|---|\n")
            for r in default_bn:
                f.write(f"| {r['name']} | {r['from_onnx']} | {r['from_pytorch']} |\n")


if __name__ == "__main__":
    main()

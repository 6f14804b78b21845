"""Issue 22's cases (bad raw-op tensors, checkpoints not bound to their run, a memory bound
that does not bind, unclear errors), each run in a fresh process so that a crash is seen as
one: prints one line per case, what it gave (exit status, the last line of its output).

    PYTHONPATH=/path/to/checkout python benchmarks/issue22_cases.py [CASE ...]

Run it against main and against a branch to compare: the package is imported from
PYTHONPATH (or the current directory). Results: benchmarks/results/issue22_cases.md.
"""
import os
import subprocess
import sys
import tempfile
import textwrap

TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")

PRELUDE = f"""
import os, sys, resource, tempfile, numpy as np, torch
sys.path.insert(0, {TESTS!r})
from helpers import make_net
import deep_ei_fast as dei
from deep_ei_fast.engine import ops
def net(n_in=6, n_out=5, seed=1):
    model, lin = make_net(n_in, n_out, "sigmoid", seed=seed)
    return model, lin, dei.topology_of(model, torch.zeros(1, n_in))
ARGS = dict(samples=3000, in_bins=8, out_bins=8, seed=3, progress=False, memory_bound=3000)
# A checkpointed 6 -> 5 run of seed argv[1] that sleeps argv[2] s after each tile it saves.
SLOW_RUN = \'\'\'
import sys, time, torch
sys.path.insert(0, %r)
from helpers import make_net
import deep_ei_fast as dei
from deep_ei_fast.engine.checkpoint import TileStore
original = TileStore.save
def slow(self, *a):
    original(self, *a); time.sleep(float(sys.argv[2]))
TileStore.save = slow
m, lin = make_net(6, 5, "sigmoid", seed=1)
dei.ei_parts_matrix(lin, dei.topology_of(m, torch.zeros(1, 6)), checkpoint=%r, samples=3000, in_bins=8,
                    out_bins=8, seed=int(sys.argv[1]), progress=False, memory_bound=3000)
\'\'\'
def rss():
    return "peak RSS %d MB" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
def cli(*argv):
    from deep_ei_fast.apps.cli import main
    sys.exit(main(list(argv)))
# pairwise_stats resumed from a checkpoint whose first tile's column 1 (N, the samples of each
# pair) was set to `value` (the tile rewritten as numpy saves it).
def stats_with_first_tile_column_1(value):
    d, (m, lin, top) = tempfile.mkdtemp(), net()
    kwargs = dict(ARGS, estimator="plugin")
    dei.pairwise_stats(lin, top, checkpoint=d, **kwargs)
    path = os.path.join(d, tiles(d)[0])
    with np.load(path) as z:
        arrays = {{k: z[k].copy() for k in z.files}}
    arrays["arr_0"][..., 1] = value
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return dei.pairwise_stats(lin, top, checkpoint=d, **kwargs)
def tiles(path):
    return sorted(n for n in os.listdir(path) if n.startswith("tile."))
"""

CASES = {
    # 1. raw ops given expanded outputs
    "philox_expanded_out": "ops.philox_uniform_(torch.zeros(1, 1).expand(200000, 1), 0, 0, 0, 0., 1.); "
                           "print('returned')",
    "linear_expanded_x_out": "ops.sample_linear_layer_(torch.zeros(1, 1).expand(200000, 1), torch.zeros(3, 1), "
                             "torch.zeros(3, 200000), None, 0, 0, 0, 0., 1.); print('returned')",
    "linear_expanded_y_out": "ops.sample_linear_layer_(torch.zeros(4, 1), torch.zeros(1, 1).expand(200000, 1), "
                             "torch.zeros(200000, 4), None, 0, 0, 0, 0., 1.); print('returned')",
    "codes_expanded_out": "ops.pairwise_codes_(torch.zeros(1, 1, dtype=torch.uint8).expand(3, 1000), "
                          "torch.rand(3, 1000), torch.zeros(3, dtype=torch.float64), "
                          "torch.ones(3, dtype=torch.float64), torch.full((3,), 4, dtype=torch.int32), 4); "
                          "print('returned')",
    # 3. checkpoints
    "ckpt_no_metadata_other_layer": """
        d = __import__('tempfile').mkdtemp()
        m, lin, top = net(seed=1)
        a = dei.ei_parts_matrix(lin, top, checkpoint=d, **ARGS)
        os.remove(os.path.join(d, 'metadata.json'))
        m2, lin2, top2 = net(seed=2)
        expected = dei.ei_parts_matrix(lin2, top2, **ARGS)
        got = dei.ei_parts_matrix(lin2, top2, checkpoint=d, **ARGS)
        print('returned the OLD layer matrix' if np.array_equal(got, a) else
              'returned the new layer matrix' if np.array_equal(got, expected) else 'returned a mix')
    """,
    "ckpt_tiles_from_another_run": """
        d1, d2 = __import__('tempfile').mkdtemp(), __import__('tempfile').mkdtemp()
        m, lin, top = net()
        a = dei.ei_parts_matrix(lin, top, checkpoint=d1, **ARGS)
        b = dei.ei_parts_matrix(lin, top, checkpoint=d2, **dict(ARGS, seed=4))
        __import__('shutil').copy(os.path.join(d2, tiles(d2)[0]), os.path.join(d1, tiles(d1)[0]))
        got = dei.ei_parts_matrix(lin, top, checkpoint=d1, **ARGS)
        print('returned, mixed with the other run' if not np.array_equal(got, a) else 'returned the right matrix')
    """,
    "ckpt_two_tiles_swapped": """
        d = __import__('tempfile').mkdtemp()
        m, lin, top = net()
        a = dei.ei_parts_matrix(lin, top, checkpoint=d, **ARGS)
        t = tiles(d); p, q = os.path.join(d, t[0]), os.path.join(d, t[1])
        os.rename(p, p + '.x'); os.rename(q, p); os.rename(p + '.x', q)
        got = dei.ei_parts_matrix(lin, top, checkpoint=d, **ARGS)
        print('returned a wrong matrix' if not np.array_equal(got, a) else 'returned the right matrix')
    """,
    "ckpt_nan_counts": "print('returned, samples:', stats_with_first_tile_column_1(np.nan).samples)",
    "ckpt_negative_counts": "print('returned, p-values:', stats_with_first_tile_column_1(-5.0).p_value.ravel()[:3])",
    "ckpt_two_seeds_one_directory": """
        import subprocess, time, signal
        d = __import__('tempfile').mkdtemp()
        run = SLOW_RUN % (sys.path[0], d)
        slow = subprocess.Popen([sys.executable, '-c', run, '3', '1.0'], stderr=subprocess.PIPE, text=True)
        other = subprocess.Popen([sys.executable, '-c', run, '4', '0.2'], stderr=subprocess.PIPE, text=True)
        err = other.communicate()[1].strip().splitlines()
        time.sleep(1.5); slow.send_signal(signal.SIGKILL); slow.wait()
        m, lin, top = net()
        outcome = []
        for seed in (3, 4):
            alone = dei.ei_parts_matrix(lin, top, **dict(ARGS, seed=seed))
            try:
                got = dei.ei_parts_matrix(lin, top, checkpoint=d, **dict(ARGS, seed=seed))
                outcome.append(f'resumed with seed {seed}: ' + ('identical' if np.array_equal(got, alone) else
                               f'DIFFERS in {int((got != alone).sum())} of {got.size} pairs'))
            except ValueError as e:
                outcome.append(f'seed {seed} refused')
        print('second run: exit', other.returncode, (err[-1][:160] if err else ''), '|', ', '.join(outcome))
    """,
    # 4. memory bound
    "shuffles_1e5_default_bound": """
        m, lin, top = net(4, 3)
        try:
            dei.ei_parts(lin, top, samples=1000, in_bins=8, out_bins=8, seed=0, progress=False,
                         estimator='shuffle', shuffles=10**5)
            print('returned;', rss())
        except ValueError as e:
            print('ValueError:', e, ';', rss())
    """,
    "shuffles_1e6_default_bound": """
        m, lin, top = net(4, 3)
        resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))
        try:
            dei.ei_parts(lin, top, samples=1000, in_bins=8, out_bins=8, seed=0, progress=False,
                         estimator='shuffle', shuffles=10**6)
            print('returned;', rss())
        except (ValueError, MemoryError, RuntimeError) as e:
            print(type(e).__name__ + ':', str(e)[:300], ';', rss())
    """,
    "shuffles_1e4_bound_2_20": """
        m, lin, top = net(4, 3)
        dei.ei_parts(lin, top, samples=1000, seed=0, progress=False, estimator='shuffle', shuffles=10000,
                     memory_bound=2**20)
        print('returned')
    """,
    "vector_shuffles_bound": """
        m, lin, top = net(4, 3)
        dei.ei(lin, top, samples=1000, seed=0, progress=False, estimator='shuffle', shuffles=1000,
               memory_bound=2**20)
        print('returned')
    """,
    # 5. unclear errors
    "groups_empty": "m, lin, top = net(); dei.eis_between_groups(lin, top, groups=[], samples=1000, seed=0, "
                    "progress=False)",
    "conv2d_groups_2": """
        model = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3, groups=2), torch.nn.Sigmoid())
        top = dei.topology_of(model, torch.zeros(1, 4, 5, 5))
        print(dei.ei_parts(model[0], top, samples=1000, seed=0, progress=False, in_bins=4, out_bins=4))
    """,
    "activation_returns_list": """
        m, lin, top = net()
        dei.ei_parts(lin, top, samples=1000, seed=0, progress=False, activation=lambda t: [t])
    """,
    "weight_replaced_other_shape": """
        m, lin, top = net(4, 3)
        lin.weight = torch.nn.Parameter(torch.zeros(3, 5)); lin.in_features = 5
        dei.ei_parts(lin, top, samples=1000, seed=0, progress=False)
    """,
    "mi_of_strings": "dei.MI(['a', 'b'], [1.0, 2.0])",
    "topology_of_a_string": "dei.topology_of('model', torch.zeros(1, 4))",
    "recorder_missing_folder": """
        m, lin, top = net()
        r = dei.CausalPlaneRecorder(m, torch.zeros(1, 6), '/nonexistent/folder/run.csv', samples=1000,
                                    sensitivity_samples=100, seed=0, progress=False)
        print('constructed')
        try:
            r.record(0)
        except Exception as e:
            print('constructed; record() then measured and failed:', type(e).__name__, e)
    """,
    "cli_samples_inf": "cli('measure', 'm.pt', '--samples', 'inf')",
    "cli_samples_1e400": "cli('measure', 'm.pt', '--samples', '1e400')",
    "cli_seed_2_70_torch": """
        m, lin = make_net(4, 3); p = __import__('tempfile').mktemp(suffix='.pt'); torch.save(m.state_dict(), p)
        from deep_ei_fast.apps.cli import main
        sys.exit(main(['measure', p, '--arch', '4,3', '--bias', '--rng', 'torch', '--seed', str(2**70),
                       '--samples', '1000', '--sensitivity-samples', '100']))
    """,
    "cli_csv_dev_full": """
        m, lin = make_net(4, 3); p = __import__('tempfile').mktemp(suffix='.pt'); torch.save(m.state_dict(), p)
        from deep_ei_fast.apps.cli import main
        sys.exit(main(['measure', p, '--arch', '4,3', '--bias', '--csv', '/dev/full',
                       '--samples', '1000', '--sensitivity-samples', '100']))
    """,
    "samples_2_31_plus_5_limit": """
        from deep_ei_fast.engine.measurement import MAX_SAMPLES
        m, lin, top = net()
        try:
            dei.ei(lin, top, samples=2**53 + 1, seed=0, progress=False)
        except ValueError as e:
            print('2^53 + 1 refused:', e)
    """,
}


def run_case(name, timeout=600):
    code = PRELUDE + textwrap.dedent(CASES[name])
    with tempfile.TemporaryDirectory() as folder:
        try:
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  timeout=timeout, cwd=folder)
        except subprocess.TimeoutExpired:
            return f"timed out after {timeout} s"
    lines = [line for line in (done.stdout + done.stderr).strip().splitlines() if line.strip()]
    status = done.returncode if done.returncode >= 0 else f"signal {-done.returncode}"
    return f"exit {status}: {lines[-1].strip()[:400] if lines else ''}"


if __name__ == "__main__":
    for case in sys.argv[1:] or CASES:
        print(f"{case}: {run_case(case)}", flush=True)

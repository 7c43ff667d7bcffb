#!/usr/bin/python3
"""test_progress.py — the progress line of the sten command (tools/progress.c).

Runs real commands twice, once with stderr on a pseudo-terminal (80
columns) and once with stderr on a pipe, and checks:
  - on the terminal, a progress line appears: '\\r'-rewritten, with the
    words of the command's phases (synth generating/writing, convert
    reading with the file's share, EASE's Gram matrix/inversion/scoring,
    train's batches within an epoch, predict's users), never wider than the
    terminal, and erased before the command's own lines, which follow intact;
  - on a pipe, stderr holds no '\\r' and is exactly the terminal's output
    with the progress removed (the per-epoch training lines too);
  - the files written are byte-identical either way;
  - STEN_PROGRESS=0 hides the line on a terminal, STEN_PROGRESS=1 shows it
    on a pipe; a 30-column terminal gets lines cut to 29 columns; an error
    after the line was drawn is printed on a clean line.

Usage: test_progress.py STEN EXAMPLES_DIR
"""
import fcntl
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import termios

STEN = os.path.realpath(sys.argv[1])
EXAMPLES = os.path.realpath(sys.argv[2])
COLUMNS = 80
failures = 0


def check(cond, msg, detail=""):
    global failures
    if cond:
        print("ok:", msg, flush=True)
    else:
        failures += 1
        print("FAIL:", msg, flush=True)
        if detail:
            print("   ", detail[:3000], flush=True)
    return cond


def env_with(progress):
    env = dict(os.environ)
    env.pop("STEN_PROGRESS", None)
    env.pop("STEN_LOG", None)
    if progress is not None:
        env["STEN_PROGRESS"] = progress
    return env


def run_tty(args, progress=None, columns=COLUMNS, stdin=None):
    """sten ARGS with stderr on a pseudo-terminal of `columns` (stdout on a
    pipe; stdin from the file named, through a pipe): (exit code, what the
    terminal got, stdout)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.ONLCR  # keep '\n' as written, so the bytes compare with a pipe's
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    feed = subprocess.Popen(["cat", stdin], stdout=subprocess.PIPE) if stdin else None
    p = subprocess.Popen([STEN, *args], stdin=feed.stdout if feed else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=slave, env=env_with(progress))
    if feed:
        feed.stdout.close()
    os.close(slave)
    got = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        got += chunk
    out = p.stdout.read()
    rc = p.wait()
    if feed:
        feed.wait()
    os.close(master)
    return rc, got.decode(), out.decode()


def run_pipe(args, progress=None):
    r = subprocess.run([STEN, *args], stdin=subprocess.DEVNULL, capture_output=True,
                       env=env_with(progress), timeout=600)
    return r.returncode, r.stderr.decode(), r.stdout.decode()


def split_progress(term):
    """The terminal's bytes as (progress drawings, the lines that stay).
    Within a line, each '\r' returns to its start: the text after the last
    one stays, what came before was progress. A line that replaces a drawing
    must come after an erase (blanks as wide as the drawing), or the
    drawing's tail would stay on screen: such a line is returned as
    "UNERASED:" + line so comparisons fail."""
    drawings, kept = [], []
    parts = term.split("\n")
    for idx, line in enumerate(parts):
        segs = line.split("\r")
        last = idx == len(parts) - 1  # text after the final '\n': drawings only
        shown = segs if last else segs[:-1]
        drawn = [x for x in shown if x.strip()]
        drawings += drawn
        if last:
            continue
        stays = segs[-1]
        if drawn and not (len(segs) >= 2 and segs[-2].strip() == "" and len(segs[-2]) >= len(drawn[-1])):
            stays = "UNERASED:" + stays
        kept.append(stays)
    return drawings, "\n".join(kept) + ("\n" if kept else "")


def both(name, args, words, files=(), same_stderr=True, norm=lambda s: s):
    """Runs args on a terminal and on a pipe, in fresh copies of the work
    folder's inputs; checks the progress line and that nothing else changed.
    Returns the terminal's drawings."""
    rc_t, term, out_t = run_tty(args)
    kept_t = {f: open(f, "rb").read() for f in files if os.path.exists(f)}
    for f in files:
        if os.path.exists(f):
            os.remove(f)
    rc_p, err, out_p = run_pipe(args)
    kept_p = {f: open(f, "rb").read() for f in files if os.path.exists(f)}
    check(rc_t == 0 and rc_p == 0, f"{name}: exits 0 on a terminal and on a pipe ({rc_t}, {rc_p})",
          term + err)
    drawings, rest = split_progress(term)
    check(len(drawings) > 0 and "\r" in term, f"{name}: a progress line on the terminal", repr(term))
    for w in words:
        check(any(w in d for d in drawings), f"{name}: the progress line says '{w}'",
              repr(drawings[:20]))
    check(all(d.startswith(f"sten {args[0]}: ") for d in drawings),
          f"{name}: every drawing starts 'sten {args[0]}: '", repr(drawings[:5]))
    widest = max((len(d) for d in drawings), default=0)
    check(widest <= COLUMNS - 1, f"{name}: no drawing is wider than the terminal ({widest} <= {COLUMNS - 1})")
    check("\r" not in err, f"{name}: no '\\r' on a pipe", repr(err))
    if same_stderr:
        check(norm(rest) == norm(err), f"{name}: the terminal's lines, progress removed, are the pipe's stderr",
              f"terminal: {rest!r}\npipe:     {err!r}")
    check(term.endswith("\n") or (not rest.endswith("UNERASED") and re.search(r"\r +\r$", term)),
          f"{name}: the terminal's last output is a whole line or an erase (the progress was erased)",
          repr(term[-200:]))
    check(norm(out_t) == norm(out_p), f"{name}: stdout is the same")
    for f in files:
        check(f in kept_t and kept_t.get(f) == kept_p.get(f), f"{name}: {f} is byte-identical")
    return drawings, rest, err


def main():
    work = tempfile.mkdtemp(prefix="sten-progress-")
    os.chdir(work)
    try:
        # synth: the library's generating phase, the command's writing loop
        both("synth", ["synth", "--force", "--preset", "small", "--interactions", "200000", "--seed", "3",
                       "-o", "r.csv"], ["generating:", "users", "writing:", "interactions"], ["r.csv"])
        shutil.copy("r.csv", "keep.csv")
        both("synth dsstne", ["synth", "--force", "--preset", "small", "--format", "dsstne", "-o", "d.txt"],
             ["writing:"], ["d.txt"])

        # convert: reading lines, with the file's share (its size is known)
        drawings, _, _ = both("convert", ["convert", "--force", "keep.csv", "-o", "ml.txt"],
                              ["reading keep.csv:", "lines", "MB (", "%)", "writing:", "records"], ["ml.txt"])
        check(any(re.search(r"reading keep\.csv: [0-9.]+k lines, \d+/\d+ MB \(\d+%\)", d) for d in drawings),
              "convert: reading shows lines, MB read of the file's MB, and the share",
              repr(drawings[:10]))

        # generate-netcdf reads its text through the shared line reader (a
        # report every 65,536 lines: this file has 70,000)
        run_pipe(["synth", "--force", "--users", "70000", "--items", "100", "--interactions", "140000",
                  "--format", "dsstne", "-o", "wide.txt"])
        both("generate-netcdf", ["generate-netcdf", "--force", "-d", "w", "-i", "wide.txt", "-o", "w.nc",
                                 "-f", "wfeatures", "-s", "wsamples", "-c"],
             ["reading wide.txt:", "lines", "MB ("], ["w.nc", "wfeatures"])
        # from a pipe: lines, and no size or share (none is known)
        rc, term, _ = run_tty(["generate-netcdf", "--force", "-d", "w", "-i", "/dev/stdin", "-o", "w2.nc", "-f",
                               "wfeatures2", "-s", "wsamples2", "-c"], stdin="wide.txt")
        drawings, rest = split_progress(term)
        check(rc == 0 and any(re.fullmatch(r"sten generate-netcdf: reading stdin: [0-9.]+k lines", d)
                              for d in drawings) and not any("MB" in d or "%" in d for d in drawings),
              "generate-netcdf from a pipe: lines read, no size or share", repr(term))
        check(rest.startswith("sten generate-netcdf: w2.nc: 70000 examples"),
              "generate-netcdf from a pipe: its line follows intact", repr(rest))
        run_pipe(["generate-netcdf", "--force", "-d", "gl_input", "-i", "ml.txt", "-o", "in.nc",
                  "-f", "features", "-s", "samples", "-c"])
        run_pipe(["generate-netcdf", "--force", "-d", "gl_output", "-i", "ml.txt", "-o", "out.nc",
                  "-f", "features", "-s", "samples"])

        # EASE: the library's phases, then the command's scoring loop
        both("baseline ease", ["baseline", "--force", "ease", "--train", "ml.txt", "-k", "10", "-s", "ease.recs"],
             ["EASE: Gram matrix:", "EASE: inverting", "EASE: weights", "EASE: scoring:"], ["ease.recs"])
        both("similar ease", ["similar", "--force", "-r", "ml.txt", "-i", "features", "-s", "sims.txt", "-k", "5",
                              "--measure", "ease"], ["EASE: Gram matrix:", "EASE: neighbours:"], ["sims.txt"])

        # train: batches within each epoch; the per-epoch lines stay
        config = os.path.join(EXAMPLES, "movielens", "config.json")
        times = lambda s: re.sub(r"[0-9.]+ s, [0-9]+ examples/s", "T s, R examples/s", s)
        drawings, rest, err = both(
            "train", ["train", "-c", config, "-i", "in.nc", "-o", "out.nc", "-n", "gl.nc", "--force", "-e", "2",
                      "-b", "32", "-t", "1"], ["epoch 1/2: batch 1/63 (2%)", "epoch 2/2: batch"], [],
            norm=times)
        check(len(re.findall(r"^sten train: epoch \d: loss [0-9.]+ per example", rest, re.M)) == 2,
              "train: both per-epoch lines are on the terminal", repr(rest))
        check(len(re.findall(r"^sten train: epoch \d: loss [0-9.]+ per example", err, re.M)) == 2,
              "train: both per-epoch lines are on a pipe", repr(err))

        # predict: users done
        both("predict", ["predict", "--force", "-d", "gl", "-n", "gl.nc", "-r", "ml.txt", "-i", "features",
                         "-o", "features", "--exclude-seen", "-k", "10", "-b", "64", "-s", "ae.recs"],
             ["recommending:", "users"], ["ae.recs"])

        # evaluate: reading (a file of over 65,536 lines is reported), then users scored
        both("evaluate", ["evaluate", "-r", "wide.txt", "-t", "wide.txt", "-k", "5"],
             ["reading wide.txt:", "scoring:", "users"])

        # FM and Linear Learner training: batches within epochs, epochs
        with open("fm.libsvm", "w") as f:
            for i in range(3000):
                f.write(f"{i % 2} {i % 50}:1 {50 + (i * 7) % 40}:1\n")
        with open("fm.json", "w") as f:
            f.write('{"feature_dim": "90", "num_factors": "4", "predictor_type": "binary_classifier", '
                    '"epochs": "2", "mini_batch_size": "100"}')
        both("train fm", ["train", "--algorithm", "factorization-machines", "--hyperparameters", "fm.json",
                          "--train", "fm.libsvm", "--index-base", "0", "--model-dir", "fmdir", "--force"],
             ["epoch 1/2: batch", "epoch 2/2: batch"], norm=times)
        with open("ll.csv", "w") as f:
            for i in range(3000):
                f.write(f"{i % 2},{(i * 13) % 7 / 7:.3f},{(i % 2) + (i * 5) % 3 / 9:.3f}\n")
        with open("ll.json", "w") as f:
            f.write('{"feature_dim": "2", "predictor_type": "binary_classifier", "epochs": "3"}')
        both("train linear-learner", ["train", "--algorithm", "linear-learner", "--hyperparameters", "ll.json",
                                      "--train", "ll.csv", "--model-dir", "lldir", "--force"],
             ["Linear Learner: epochs:"], norm=lambda s: re.sub(r"[0-9.]+ s\b|\"[a-z_]*seconds\": [0-9.e-]+", "T", s))

        # the switch: off on a terminal, on for a pipe
        args = ["synth", "--force", "--preset", "small", "-o", "s.csv"]
        rc, term, _ = run_tty(args, progress="0")
        _, err, _ = run_pipe(args)
        check(rc == 0 and term == err and "\r" not in term,
              "STEN_PROGRESS=0: a terminal gets exactly a pipe's stderr", f"{term!r} vs {err!r}")
        rc, err1, _ = run_pipe(args, progress="1")
        check(rc == 0 and "\rsten synth: generating:" in err1 and err1.endswith(err),
              "STEN_PROGRESS=1: a pipe gets the progress line, then the same lines", repr(err1))

        # a terminal narrower than the line: cut to fit (a wrapped line
        # could not be rewritten)
        rc, term, _ = run_tty(["baseline", "--force", "ease", "--train", "ml.txt", "-k", "10", "-s", "n.recs"],
                              columns=30)
        drawings, rest = split_progress(term)
        check(rc == 0 and drawings and max(len(d) for d in drawings) == 29
              and "sten baseline: EASE: invertin" in drawings,
              "a 30-column terminal: drawings cut to 29 columns", repr(drawings))
        check(rest.startswith("sten baseline: n.recs: ease over"), "a 30-column terminal: the lines are whole",
              repr(rest))

        # an error after the line was drawn: erased first, the message intact
        with open("keep.csv") as f, open("bad.csv", "w") as g:
            lines = f.read().splitlines()
            g.write("\n".join(lines) + "\n1,2,3\n")
        bad_line = len(lines) + 1
        args = ["convert", "--force", "bad.csv", "-o", "bad.txt"]
        rc_t, term, _ = run_tty(args)
        rc_p, err, _ = run_pipe(args)
        drawings, rest = split_progress(term)
        check(rc_t == rc_p == 65 and len(drawings) > 0 and f"bad.csv:{bad_line}:" in err and rest == err,
              "an error after progress: exit 65, the line erased, the message as on a pipe",
              f"{rc_t} {rc_p} terminal: {term[-300:]!r}\npipe: {err!r}")
    finally:
        os.chdir("/")
        shutil.rmtree(work, ignore_errors=True)
    print(f"{failures} failures", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""test_abi_more.py — the layouts of the structs sten/_lib.py mirrors beyond
those tests/py_abi.c prints (MORE_STRUCTS: the built-in algorithms,
evaluation and data tools), checked against include/sten.h by compiling a
program that prints every field's offset and each struct's size. Skipped
without a C compiler or outside the source tree."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from sten import _lib

HEADER = Path(__file__).resolve().parents[2] / "include" / "sten.h"


def test_more_struct_layouts_match_the_header(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc or not HEADER.exists():
        pytest.skip("needs a C compiler and include/sten.h")
    lines = ['#include "sten.h"', "#include <stddef.h>", "#include <stdio.h>", "int main(void) {",
             'printf("{");']
    for i, (cname, T) in enumerate(_lib.MORE_STRUCTS.items()):
        lines.append(f'printf("%s\\"{cname}\\": {{\\"sizeof\\": %zu", "{", " if i else ""}", sizeof({cname}));')
        for f, _ in T._fields_:
            lines.append(f'printf(", \\"{f}\\": %zu", offsetof({cname}, {f}));')
        lines.append('printf("}");')
    lines += ['printf("}\\n");', "return 0; }"]
    src = tmp_path / "abi.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "abi"
    subprocess.run([cc, "-I", str(HEADER.parent), str(src), "-o", str(exe)], check=True)
    c = json.loads(subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout)
    for cname, T in _lib.MORE_STRUCTS.items():
        fields = c[cname]
        assert fields.pop("sizeof") == __import__("ctypes").sizeof(T), cname
        for f, off in fields.items():
            assert getattr(T, f).offset == off, (cname, f, off)

"""A small file tree that exercises every filter a search has, built fresh for each test."""

from __future__ import annotations

import os
from pathlib import Path

FILES: dict[str, bytes] = {
    ".gitignore": b"*.log\n!keep.log\nbuild/\n/rooted.txt\ndocs/**/secret.md\n",
    "a.txt": b"alpha TODO one\nplain line\nTODO: two todo\n",
    "rooted.txt": b"TODO rooted (ignored at the root only)\n",
    "deep/rooted.txt": b"TODO rooted below (not ignored)\n",
    "noise.log": b"TODO in an ignored log\n",
    "keep.log": b"TODO in a re-included log\n",
    "build/out.txt": b"TODO in an ignored dir\n",
    ".env": b"TODO=hidden file\n",
    ".config/settings.txt": b"TODO in a hidden dir\n",
    "src/main.py": b"import os\n\n# TODO: fix\ndef main():\n    return 'todo'\n",
    "src/util.py": b"x = 1\ny = 2\n# TODO later\nz = 3\nw = 4\n# TODO again\n",
    "src/.gitignore": b"generated_*.py\n!generated_keep.py\n",
    "src/generated_a.py": b"# TODO generated\n",
    "src/generated_keep.py": b"# TODO generated but kept\n",
    "src/pkg/mod.rs": b"// TODO rust\nfn main() {}\n",
    "docs/guide.md": b"# Guide\nTODO write the guide\ntodo lower\nToDo mixed\n",
    "docs/a/b/secret.md": b"TODO secret\n",
    "words.txt": b"foo-bar\nfoobar\n_foo\nfoo_\n(foo)\nfoo\nfoo foo x foo\n",
    "binary.dat": b"TODO\0binary\n",
    "late_binary.dat": b"TODO before the nul\n" * 5000 + b"\0tail TODO\n",
    "big.txt": b"x" * 3000 + b"\nTODO in a big file\n",
    "unicode.txt": "TODO café naïve\nÉTÉ todo\n".encode(),
    "ctx.txt": b"TODO 1\nTODO 2\nbetween\nmore\nTODO 3\nafter\n",
    "locked/inside.txt": b"TODO behind a locked dir\n",
    ".ignore": b"ignored_by_dot_ignore.txt\n",
    "ignored_by_dot_ignore.txt": b"TODO dot-ignore\n",
}


def build_tree(root: Path) -> Path:
    """Write :data:`FILES` under ``root`` (a git work tree: it has ``.git``); return root."""
    (root / ".git" / "info").mkdir(parents=True)
    (root / ".git" / "HEAD").write_bytes(b"ref: refs/heads/main\nTODO in .git\n")
    (root / ".git" / "info" / "exclude").write_bytes(b"excluded.txt\n")
    (root / "excluded.txt").write_bytes(b"TODO excluded by .git/info/exclude\n")
    for name, data in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    os.symlink(root / "a.txt", root / "link_to_a.txt")
    return root


def lock(root: Path) -> None:
    """Make ``locked/`` unreadable (it only stops a process without root's privileges)."""
    (root / "locked").chmod(0)


def unlock(root: Path) -> None:
    """Undo :func:`lock` so the tree can be removed."""
    (root / "locked").chmod(0o755)

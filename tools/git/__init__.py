"""Git safety layer: checkpoints of the work tree and index, undo, and structured diffs."""

from tools.git.repo import GitError, GitRepo, NotAGitRepo, open_repo

__all__ = ["GitError", "GitRepo", "NotAGitRepo", "open_repo"]

"""Git: engine-owned commits, worktrees and the pre-push hook."""

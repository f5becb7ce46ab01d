"""The UpdateRollout kind: blue/green updates with health analysis and automatic rollback."""

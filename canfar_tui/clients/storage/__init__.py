"""VOSpace storage: the real ``vos`` backend and the project's VOSpace service."""

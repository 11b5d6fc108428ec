"""nbgrader configuration of the course: this folder is the course directory (source/ -> release/)."""

c = get_config()  # noqa: F821 (nbgrader provides get_config)

c.CourseDirectory.course_id = "lgclip-book"
# source/<assignment>/ also holds the jupytext MyST twin <id>.md of each notebook (the solutions): never release it
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.md"]
# a cell that runs longer than this (seconds) is interrupted; it and what depends on it score zero
c.Execute.timeout = 120
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

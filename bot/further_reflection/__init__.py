"""Three months on: the further reflection meeting some models (Think Space) ask the triage
desk to book, through Graph where it is set up, by hand otherwise."""

"""After the session: each participant's feedback, the question three months on, and the
further reflection meeting some models ask the desk to book."""

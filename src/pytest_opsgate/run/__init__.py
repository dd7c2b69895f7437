"""The pytest hooks of one gate run: its state, session hooks, selection and finish."""

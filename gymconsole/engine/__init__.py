"""The engine: agent runs, approval gate, history, scheduler. Never imports Textual."""

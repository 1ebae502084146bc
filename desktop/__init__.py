"""Desktop GUI (PySide6) built on tagsight.engine.service only."""

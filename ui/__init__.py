"""The Gradio chat (`ui.app.build_app`, `ui.app.serve`)."""

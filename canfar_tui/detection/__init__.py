"""Local source detection with sep (no Textual; heavy imports are lazy)."""

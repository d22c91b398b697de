"""The HTTP side: the server, metrics, the preview page and its MJPEG stream."""

"""Where results go: the events file, annotated frames, MQTT, HTTP."""

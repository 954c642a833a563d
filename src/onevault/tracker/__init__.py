"""The browser tracker: its JavaScript source, the minified build the service serves, and the snippet."""

from onevault.cli.main import app

app()

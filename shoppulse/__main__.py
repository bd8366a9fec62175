from shoppulse.cli import app

app()

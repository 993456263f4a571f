from lakehouse_cli.main import app

app()

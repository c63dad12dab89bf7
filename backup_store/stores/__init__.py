"""Store backends: each turns its configuration into an obstore store."""

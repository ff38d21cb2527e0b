"""What the hourly forecast and the weekly training functions share: settings, Athena, the model store."""

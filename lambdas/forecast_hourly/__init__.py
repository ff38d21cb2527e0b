"""The hourly forecast function: forecast, score drift, retrain on drift, alert on breaches."""

"""The weekly forecast training function: six direct models per series key, versioned in S3."""

"""Model bundles shipped with midigen (the embedded default model lives in a subfolder)."""

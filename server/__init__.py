"""midigen's runtime: data model, token language, grammar, windowing, engine and OSC daemon."""

__version__ = "0.1.0"

"""Models: what `--model` accepts and how it is loaded (specs), the embedded defaults, GGUF
conversion, and the tuned model exported as standard folders."""

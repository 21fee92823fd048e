"""The collector: receivers decode wire formats and hand spans to one processor, which
owns the bounded queue in front of the storage writer."""

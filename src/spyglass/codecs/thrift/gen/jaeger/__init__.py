__all__ = ['ttypes', 'constants', 'Collector']

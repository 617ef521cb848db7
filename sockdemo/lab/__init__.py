"""What a person drives: the background server handle, the client fleet, the command line.

Nothing is re-exported here: ``sockdemo`` re-exports ``start_server`` and
``send``, and only ``sockdemo.__main__`` imports the command line.
"""

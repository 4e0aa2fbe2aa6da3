"""The lecture programs of "Python Sockets", reimplemented on Twisted."""

# A student's server, as the slides write it: one recv(1024), one send(), no framing.
import socket, sys

s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(5)
while True:
    c, addr = s.accept()
    print("Got connection from", addr)
    data = c.recv(1024)
    c.send(data.upper())
    c.close()

"""twistd plugins: `twistd -n ex2-sum` runs one exercise's TCP and UDP servers together.

twistd finds this file because the repository root is on sys.path (`pip install -e .`)
and this folder, twisted/plugins/, has no __init__.py: it adds to Twisted's own plugins
instead of hiding them. The services themselves are in twisted_impl/service.py.
"""

from twisted.application.service import ServiceMaker

ex0_hello = ServiceMaker(
    "ex0-hello", "twisted_impl.service.ex0_hello",
    "The slides' demo: TCP and UDP servers that greet every client.", "ex0-hello")
ex1_message = ServiceMaker(
    "ex1-message", "twisted_impl.service.ex1_message",
    "Bài 1: TCP and UDP servers that answer From SERVER TCP/UDP.", "ex1-message")
ex2_sum = ServiceMaker(
    "ex2-sum", "twisted_impl.service.ex2_sum",
    "Bài 2: TCP and UDP servers that answer two integers with their sum.", "ex2-sum")
ex3_password = ServiceMaker(
    "ex3-password", "twisted_impl.service.ex3_password",
    "Bài 3: TCP and UDP servers that answer with the valid passwords.", "ex3-password")

"""The expectations, as data: every implementation is run against these rows.

A row is ``(request, reply)``: ``request`` is one request line exactly as it goes on the
wire over TCP, line ending included; ``reply`` is the exact reply line, ``\\n`` included.
The same bytes sent as one UDP datagram must get the same reply (a trailing ``\\n`` or
``\\r\\n`` is removed from a datagram, as from a TCP line), except for ex1, whose UDP reply
says UDP. Sent bare (without its line ending: a UDP datagram, or the last bytes before a
half-close over TCP), a request gets its reply bare, without ``\\n``, except an empty
answer, which is still ``\\n`` (PROTOCOL.md, "Lecture-style peers"): see `bare`.
A new case is one new row.
"""

GREETING = b"Thank you for connecting\n"
ERR_SUM = b'ERROR expected two integers like "3 4"\n'
ERR_DIGITS = b"ERROR integer too long (max 4000 digits)\n"
ERR_LONG = b"ERROR line too long (max 65536 bytes)\n"
MAX_LINE = 65536
MAX_DIGITS = 4000
MAX_DATAGRAM = 65507

EXERCISES = ("ex0_hello", "ex1_message", "ex2_sum", "ex3_password")
DEFAULT_PORTS = {"ex0_hello": 12345, "ex1_message": 8090, "ex2_sum": 8091, "ex3_password": 8092}

EX1_ROWS = [
    (b"From CLIENT TCP\n", b"From SERVER TCP\n"),
    (b"From CLIENT UDP\n", b"From SERVER TCP\n"),
    (b"\n", b"From SERVER TCP\n"),
    (b"\r\n", b"From SERVER TCP\n"),
    (b"hello\r\n", b"From SERVER TCP\n"),
    ("Xin chào các bạn\n".encode(), b"From SERVER TCP\n"),
    (b"\xff\xfe invalid utf-8\n", b"From SERVER TCP\n"),
    (b"\x00\t\x0b\r\n", b"From SERVER TCP\n"),
    (b"3 4\n", b"From SERVER TCP\n"),
]

# What an ex1 server prints for a request: the text after "Received from (host, port): ".
EX1_PRINTED = [
    (b"From CLIENT TCP\n", "From CLIENT TCP"),
    (b"hello\r\n", "hello"),
    ("Xin chào các bạn\n".encode(), "Xin chào các bạn"),
    (b"caf\xc3\xa9 \xff!\n", "café \ufffd!"),
    (b"\n", ""),
]

EX2_ROWS = [
    # The lecture's example and the contract's own examples.
    (b"3 4\n", b"7\n"),
    (b"-5 12\n", b"7\n"),
    (b"007 1\n", b"8\n"),
    (b"3 4\r\n", b"7\n"),
    # Signs, zeros, and the spaces and tabs allowed around and between the integers.
    (b"+3 -4\n", b"-1\n"),
    (b"-3 -4\n", b"-7\n"),
    (b"0 0\n", b"0\n"),
    (b"-0 +0\n", b"0\n"),
    (b"-0 -0\n", b"0\n"),
    (b"000 000\n", b"0\n"),
    (b"3  4\n", b"7\n"),
    (b"  3\t 4 \t\n", b"7\n"),
    (b"\t3\t4\t\r\n", b"7\n"),
    (b"-1000000000000000000000 1\n", b"-999999999999999999999\n"),
    # One comma between the integers, with optional spaces or tabs around it (students'
    # clients send "3,4" as often as "3 4").
    (b"3,4\n", b"7\n"),
    (b"3, 4\n", b"7\n"),
    (b"3 ,4\n", b"7\n"),
    (b"3 , 4\n", b"7\n"),
    (b"\t3\t,\t4\t\r\n", b"7\n"),
    (b" -5,+12 \n", b"7\n"),
    (b"9" * 4000 + b",1\n", b"1" + b"0" * 4000 + b"\n"),
    (b"1" * 4001 + b",1\n", ERR_DIGITS),
    # Huge integers: up to 4000 digits each, the sum may have 4001.
    (b"9" * 4000 + b" 1\n", b"1" + b"0" * 4000 + b"\n"),
    (b"1" * 4000 + b" " + b"1" * 4000 + b"\n", b"2" * 4000 + b"\n"),
    (b"-" + b"9" * 4000 + b" -1\n", b"-1" + b"0" * 4000 + b"\n"),
    (b"+" + b"0" * 3999 + b"5 -" + b"0" * 4000 + b"\n", b"5\n"),
    # One digit over the limit, on either side, with or without a sign.
    (b"1" * 4001 + b" 1\n", ERR_DIGITS),
    (b"1 -" + b"1" * 4001 + b"\n", ERR_DIGITS),
    (b"+" + b"0" * 4001 + b" 1\n", ERR_DIGITS),
    # Malformed: never a sum, never a crash.
    (b"\n", ERR_SUM),
    (b"\r\n", ERR_SUM),
    (b"   \n", ERR_SUM),
    (b"3\n", ERR_SUM),
    (b"3 4 5\n", ERR_SUM),
    (b"3 - 4\n", ERR_SUM),
    (b"- 4\n", ERR_SUM),
    (b"+ 4\n", ERR_SUM),
    (b"--3 4\n", ERR_SUM),
    (b"+-3 4\n", ERR_SUM),
    (b"3+ 4\n", ERR_SUM),
    # One comma, and only between the two integers.
    (b"3,,4\n", ERR_SUM),
    (b"3, ,4\n", ERR_SUM),
    (b"3,4,5\n", ERR_SUM),
    (b"3 4,5\n", ERR_SUM),
    (b"3,4 5\n", ERR_SUM),
    (b",3 4\n", ERR_SUM),
    (b"3 4,\n", ERR_SUM),
    (b"3,\n", ERR_SUM),
    (b",4\n", ERR_SUM),
    (b",\n", ERR_SUM),
    (b"3;4\n", ERR_SUM),
    ("3\uff0c4\n".encode(), ERR_SUM),  # full-width comma
    (b"3,\x0b4\n", ERR_SUM),  # only spaces and tabs around the comma
    (b"3.5 1\n", ERR_SUM),
    (b"1_000 1\n", ERR_SUM),
    (b"0x10 1\n", ERR_SUM),
    (b"1e3 1\n", ERR_SUM),
    (b"a b\n", ERR_SUM),
    (b"__import__('os').system('ls') 1\n", ERR_SUM),
    ("٣ ٤\n".encode(), ERR_SUM),  # Arabic-Indic digits
    ("１２ 3\n".encode(), ERR_SUM),  # full-width digits
    ("² 1\n".encode(), ERR_SUM),  # superscript two
    ("3\u00a04\n".encode(), ERR_SUM),  # non-breaking space
    ("3\u30004\n".encode(), ERR_SUM),  # ideographic space
    (b"3\x0b4\n", ERR_SUM),  # vertical tab
    (b"3\x0c4\n", ERR_SUM),  # form feed
    (b"3\r4\n", ERR_SUM),  # a bare CR is data, not a separator
    (b"3 4\r\r\n", ERR_SUM),  # only one CR before the LF is removed
    (b"\r3 4\n", ERR_SUM),
    (b"3 4\x00\n", ERR_SUM),
    (b"\x003 4\n", ERR_SUM),
    (b"\xff 1\n", ERR_SUM),  # invalid UTF-8
    (b"3 \xc3\n", ERR_SUM),  # truncated UTF-8 sequence
    (b"1" * 4001 + b" x\n", ERR_SUM),  # not of the shape at all: the shape error wins
]

EX3_ROWS = [
    # The lecture's example, and the contract's second one.
    (b"Abc123@1,aF1#2w3E*,2We3345\n", b"Abc123@1\n"),
    (b"ABd1234@1,a F1#,2w3E*,2We3345\n", b"ABd1234@1\n"),
    (b"Abc123@1,aF1#2w3E*,2We3345\r\n", b"Abc123@1\n"),
    # Length: 6 to 12.
    (b"aB1$aa\n", b"aB1$aa\n"),
    (b"aB1$a\n", b"\n"),
    (b"aB1$aaaaaaaa\n", b"aB1$aaaaaaaa\n"),
    (b"aB1$aaaaaaaaa\n", b"\n"),
    # Each class is required; each special character counts.
    (b"ab1$aa\n", b"\n"),
    (b"AB1$AA\n", b"\n"),
    (b"aBc$aa\n", b"\n"),
    (b"aB1aaa\n", b"\n"),
    (b"aB1$aa,aB1#aa,aB1@aa\n", b"aB1$aa,aB1#aa,aB1@aa\n"),
    # Any character outside the four classes makes a password invalid.
    (b"aB1$aa*\n", b"\n"),
    (b"aB1$ aa\n", b"\n"),
    (b"aB1$aa!\n", b"\n"),
    (b"aB1$aa-\n", b"\n"),
    ("aB1$aé\n".encode(), b"\n"),
    ("Äb1$aaa\n".encode(), b"\n"),
    ("aB1$aa１\n".encode(), b"\n"),  # full-width digit
    ("\u00a0aB1$aa\n".encode(), b"\n"),  # only spaces and tabs are stripped
    (b"\x0baB1$aa\n", b"\n"),
    (b"aB1$aa\x00\n", b"\n"),
    (b"aB1$aa\r\r\n", b"\n"),
    # Order kept, duplicates kept, spaces and tabs around items removed, empty items ignored.
    (b"Zz9#zz,Abc123@1,Zz9#zz\n", b"Zz9#zz,Abc123@1,Zz9#zz\n"),
    (b" Abc123@1 , \tAbc123@1\t,,\n", b"Abc123@1,Abc123@1\n"),
    (b"Abc123@1,\n", b"Abc123@1\n"),
    (b",,,\n", b"\n"),
    (b"\n", b"\n"),
    (b" \t \n", b"\n"),
    (b"abc\n", b"\n"),
    # Invalid UTF-8 spoils only the item that holds it.
    (b"Abc123@1,Ab\xffc123@1,Xyz789#2\n", b"Abc123@1,Xyz789#2\n"),
    (b"\xe2,Abc123@1\n", b"Abc123@1\n"),
]

def rows(exercise, transport="tcp"):
    """The (request, reply) rows of one exercise, with ex1's reply for the transport."""
    if exercise == "ex1_message":
        if transport == "udp":
            return [(req, b"From SERVER UDP\n") for req, _ in EX1_ROWS]
        return list(EX1_ROWS)
    if exercise == "ex2_sum":
        return list(EX2_ROWS)
    if exercise == "ex3_password":
        return list(EX3_ROWS)
    raise ValueError("ex0 has no request rows: connecting is enough (TCP), any datagram (UDP)")


def bare(reply):
    """The reply to a request sent bare: without its "\\n", unless the answer is empty."""
    return reply if reply == b"\n" else reply[:-1]


def without_line_ending(request):
    """The request with its "\\n" or "\\r\\n" removed: as a UDP client or the slides send it."""
    if request.endswith(b"\r\n"):
        return request[:-2]
    return request[:-1]


def line_text(request):
    """The text a server's exercise function sees for a request line."""
    if request.endswith(b"\n"):
        request = request[:-1]
    if request.endswith(b"\r"):
        request = request[:-1]
    return request.decode("utf-8", "replace")

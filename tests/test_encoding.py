"""Encoding.ASCII as .NET does it (DESIGN item 4)."""
from sockdemo.apm.encoding import ascii_get_bytes, ascii_get_string


def test_ascii_bytes_pass_through_unchanged():
    assert ascii_get_string(b"Hello, server <EOF>") == "Hello, server <EOF>"


def test_every_byte_above_0x7f_becomes_one_question_mark():
    assert ascii_get_string("café".encode("utf-8")) == "caf??"


def test_no_replacement_character_ever_appears():
    text = ascii_get_string(bytes(range(256)))
    assert "\ufffd" not in text
    assert text[128:] == "?" * 128
    assert text[:128] == "".join(map(chr, range(128)))


def test_character_count_equals_byte_count():
    data = "héllo wörld ✓".encode("utf-8")
    assert len(ascii_get_string(data)) == len(data)


def test_offset_and_count_select_a_slice_of_the_buffer():
    buffer = bytearray(b"xxabc\xffyy")
    assert ascii_get_string(buffer, 2, 4) == "abc?"


def test_count_none_reads_to_the_end():
    assert ascii_get_string(b"abc\x80", 1) == "bc?"


def test_get_bytes_turns_non_ascii_characters_into_question_marks():
    assert ascii_get_bytes("café ✓") == b"caf? ?"


def test_bytes_and_bytearray_give_the_same_text():
    data = b"plain text, then \xc3\xa9 and \x80"
    assert ascii_get_string(data) == ascii_get_string(bytearray(data)) == "plain text, then ?? and ?"

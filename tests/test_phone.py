import pytest

from bot.platforms import twilio as gateway
from bot.phone import InvalidAddress, e164, e164_from_input, mask, mask_text


def e164_from_address(address):
    """A WhatsApp sender address as the webhook reads it: the seam, then E.164."""
    return e164(gateway.number_of(address))


def test_whatsapp_address_becomes_e164():
    assert e164_from_address("whatsapp:+4915112345678") == "+4915112345678"


@pytest.mark.parametrize("address", [None, "", "+4915112345678", "whatsapp:4915112345678",
                                     "sms:+4915112345678", "whatsapp:+49abc", "whatsapp:+1",
                                     "whatsapp:+4915112345678\x00", "whatsapp:+" + "9" * 30])
def test_malformed_addresses_are_refused(address):
    with pytest.raises((InvalidAddress, gateway.InvalidAddress)):
        e164_from_address(address)


def test_operator_input_in_national_format_is_understood():
    assert e164_from_input("0151 1234 5678") == "+4915112345678"


def test_mask_keeps_only_prefix_and_last_four_digits():
    assert mask("+4915112344567") == "+49151•••4567"


def test_mask_text_masks_numbers_in_any_spelling():
    line = "failed for +4915112344567 and 4915112344567 and 0151 12344567"
    masked = mask_text(line)
    assert "12344567" not in masked.replace("•••4567", "")
    assert masked.count("•••4567") == 3


@pytest.mark.parametrize("number", ["+35212345", "+493012345", "+4930123456", "+3541234567",
                                    "+12025550123", "+4915112344567", "+861391234567899"])
def test_mask_hides_at_least_four_digits_of_any_number(number):
    masked = mask(number)
    shown = sum(ch.isdigit() for ch in masked)
    assert len(number) - 1 - shown >= 4
    assert "•••" in masked


@pytest.mark.parametrize("spelling", ["0151-1234-5678", "0151/12345678", "0151.1234.5678",
                                      "%2B4915112345678", "whatsapp%3A%2B4915112345678",
                                      "+49 151 1234 5678"])
def test_mask_text_masks_dashed_slashed_and_url_encoded_numbers(spelling):
    masked = mask_text(f"send failed for {spelling}: 63003")
    assert "12345678" not in masked.replace("-", "").replace("/", "").replace(".", "") \
        .replace(" ", "")
    assert "•••" in masked


@pytest.mark.parametrize("line", [
    "2026-11-24 03:42:01,149 INFO bot.sender: broadcast 12 done",
    "message SMbench00000000000000000000000001 delivered",
    "gunicorn 27.0.1 listening at http://127.0.0.1:8000 (pid 1234)",
])
def test_mask_text_leaves_dates_ids_and_versions_alone(line):
    assert mask_text(line) == line


@pytest.mark.parametrize("sid", ["SM123\n", "SM123\n\n", "\nSM123"])
def test_a_message_id_with_a_line_break_is_refused(sid):
    # A pattern ending in $ matches before a final line break: such an id would be stored.
    with pytest.raises(gateway.InvalidWebhook):
        gateway.parse_inbound({"MessageSid": sid, "From": "whatsapp:+4915112345678",
                               "Body": "Start"})


def test_a_sender_address_with_a_line_break_is_not_a_sender():
    assert gateway.is_sender_address("whatsapp:+4930901820")
    assert not gateway.is_sender_address("whatsapp:+4930901820\n")

import pytest

from bot.phone import InvalidAddress, e164_from_address, e164_from_input, mask, mask_text


def test_whatsapp_address_becomes_e164():
    assert e164_from_address("whatsapp:+4915112345678") == "+4915112345678"


@pytest.mark.parametrize("address", [None, "", "+4915112345678", "whatsapp:4915112345678",
                                     "sms:+4915112345678", "whatsapp:+49abc", "whatsapp:+1",
                                     "whatsapp:+4915112345678\x00", "whatsapp:+" + "9" * 30])
def test_malformed_addresses_are_refused(address):
    with pytest.raises(InvalidAddress):
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

"""Service ordering, version data and answer files: what the steps are built from."""

import pytest

from qrdr.model import ExchangeVersion
from qrdr.plugins.common import catalog


def test_start_order_puts_each_service_after_what_it_needs():
    order = catalog.start_order(["MSExchangeES", "MSExchangeIS", "MSExchangeMTA", "MSExchangeSA"])
    assert order.index("MSExchangeSA") < order.index("MSExchangeIS") < order.index("MSExchangeES")
    assert order.index("MSExchangeSA") < order.index("MSExchangeMTA")


def test_stop_order_is_the_reverse_so_dependents_stop_first():
    order = catalog.stop_order(catalog.services_of(ExchangeVersion.E2003))
    assert order.index("MSExchangeES") < order.index("MSExchangeIS") < order.index("MSExchangeSA")
    assert order.index("MSExchangeMTA") < order.index("MSExchangeSA")


def test_management_service_only_in_exchange_2003():
    assert "MSExchangeMGMT" in catalog.services_of(ExchangeVersion.E2003, catalog.PRODUCTION_SERVICES)
    e2000 = catalog.services_of(ExchangeVersion.E2000, catalog.PRODUCTION_SERVICES)
    assert "MSExchangeMGMT" not in e2000
    assert set(e2000) == {"IMAP4Svc", "MSExchangeIS", "MSExchangeMTA", "POP3Svc", "RESvc", "MSExchangeSA"}


def test_temp_name_follows_the_runbook_and_fits_netbios():
    assert catalog.temp_name("EXCH01") == "EXCH01-temp"
    assert len(catalog.temp_name("AVERYLONGNAME15")) <= 15


def test_expected_build_names_unknown_service_packs():
    assert catalog.expected_build(ExchangeVersion.E2003, "SP2") == 7638
    assert catalog.expected_build(ExchangeVersion.E2000, "sp3") == 6249
    try:
        catalog.expected_build(ExchangeVersion.E2000, "SP9")
    except ValueError as error:
        assert "SP9" in str(error) and "Exchange 2000" in str(error)
    else:
        raise AssertionError("an unknown service pack was accepted")


def test_letters_are_normalised_and_bad_ones_named():
    assert catalog.letter("e") == catalog.letter("E:\\") == "E:"
    try:
        catalog.letter("EF")
    except ValueError as error:
        assert "'EF'" in str(error)
    else:
        raise AssertionError("'EF' was taken for a drive letter")


def test_unattend_selects_the_components_with_the_action():
    text = catalog.exchange_unattend(("Microsoft Exchange Messaging and Collaboration Services",), "Install",
                                     r"C:\Program Files\Exchsrvr")
    assert "Microsoft Exchange Messaging and Collaboration Services = Install" in text
    assert r"InstallDir = C:\Program Files\Exchsrvr" in text
    assert catalog.sysoc_answers(("iis_smtp", "aspnet")).splitlines() == ["[Components]", "iis_smtp = on", "aspnet = on"]


def test_unattend_file_keeps_each_value_on_its_own_line():
    text = catalog.exchange_unattend(("Microsoft Exchange", "Microsoft Exchange Messaging and Collaboration Services"),
                                     "Install", r"D:\Program Files\Exchsrvr")
    lines = text.split("\r\n")
    assert lines[:5] == ["[Version]", 'Signature = "$Windows NT$"', "[Component List]", "Microsoft Exchange = Install",
                         "Microsoft Exchange Messaging and Collaboration Services = Install"]
    assert lines[5:] == ["[Exchange Settings]", r"InstallDir = D:\Program Files\Exchsrvr", ""]


@pytest.mark.parametrize("components, install_dir, named", [
    (("Microsoft Exchange",), "C:\\Exchsrvr\r\n[Component List]\r\nMicrosoft Exchange = Remove", "exchange.install_path"),
    (("Microsoft Exchange = Remove\r\nX",), None, "exchange.components"),
    (("Microsoft Exchange = Remove",), None, "exchange.components"),
    (("[Component List]",), None, "exchange.components"),
])
def test_unattend_file_refuses_a_value_that_would_change_its_meaning(components, install_dir, named):
    with pytest.raises(catalog.AnswerFileValueError, match=named.replace(".", r"\.")):
        catalog.exchange_unattend(components, "Install", install_dir)


def test_sysoc_answers_refuse_a_component_that_would_start_a_line():
    assert catalog.sysoc_answers(("iis_smtp", "aspnet")) == "[Components]\r\niis_smtp = on\r\naspnet = on\r\n"
    with pytest.raises(catalog.AnswerFileValueError):
        catalog.sysoc_answers(("iis_smtp\r\n[Other]",))

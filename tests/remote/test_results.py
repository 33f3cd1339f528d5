"""Pipeline output becomes plain data: real CLIXML shapes through pypsrp's deserialiser."""

import datetime
import pickle

from pypsrp.serializer import Serializer

from qrdr.remote.results import PSResult, parse_dmtf, plain

SERVICE_CLIXML = """<Obj RefId="0"><TN RefId="0"><T>System.ServiceProcess.ServiceController</T>
<T>System.ComponentModel.Component</T><T>System.MarshalByRefObject</T><T>System.Object</T></TN>
<ToString>System.ServiceProcess.ServiceController</ToString><Props><S N="Name">W3SVC</S><B N="CanStop">true</B>
<Obj N="Status" RefId="1"><TN RefId="1"><T>System.ServiceProcess.ServiceControllerStatus</T><T>System.Enum</T>
<T>System.ValueType</T><T>System.Object</T></TN><ToString>Running</ToString><I32>4</I32></Obj>
<Obj N="ServicesDependedOn" RefId="2"><TN RefId="2"><T>System.ServiceProcess.ServiceController[]</T>
<T>System.Array</T><T>System.Object</T></TN><LST><S>IISADMIN</S></LST></Obj><Nil N="Site" /></Props>
<MS><S N="PSComputerName">EXCH01</S></MS></Obj>"""

HASHTABLE_CLIXML = """<Obj RefId="0"><TN RefId="0"><T>System.Collections.Hashtable</T><T>System.Object</T></TN>
<DCT><En><S N="Key">a</S><I32 N="Value">1</I32></En></DCT></Obj>"""

STRING_WITH_TYPE = """<Obj RefId="0"><TN RefId="0"><T>Deserialized.Qrdr.Note</T><T>System.Object</T></TN>
<ToString>abc</ToString><S>abc</S></Obj>"""


def deserialize(text):
    return Serializer().deserialize(text.replace("\n", ""))


def test_an_object_becomes_a_dict_of_its_properties_with_its_type_names():
    service = plain(deserialize(SERVICE_CLIXML))
    assert isinstance(service, PSResult)
    assert service["Name"] == "W3SVC"
    assert service["CanStop"] is True
    assert service["Status"] == "Running"  # the enum by its name, as PowerShell prints it
    assert service["ServicesDependedOn"] == ["IISADMIN"]
    assert service["Site"] is None
    assert service["PSComputerName"] == "EXCH01"  # extended (note) properties too
    assert service.type_names[0] == "System.ServiceProcess.ServiceController"
    assert service.is_a("system.componentmodel.component")
    assert "ServiceController" in repr(service)


def test_results_compare_as_plain_data_and_survive_pickling():
    service = plain(deserialize(SERVICE_CLIXML))
    assert service == {"Name": "W3SVC", "CanStop": True, "Status": "Running", "ServicesDependedOn": ["IISADMIN"],
                       "Site": None, "PSComputerName": "EXCH01"}
    copy = pickle.loads(pickle.dumps(service))
    assert copy == service and copy.type_names == service.type_names


def test_hashtables_lists_and_primitives():
    assert plain(deserialize(HASHTABLE_CLIXML)) == {"a": 1}
    assert plain(deserialize(STRING_WITH_TYPE)) == "abc"
    assert plain([1, "x", None, True]) == [1, "x", None, True]


def test_dmtf_dates_parse_with_their_offset():
    parsed = parse_dmtf("20261123195937.500000+060")
    assert parsed == datetime.datetime(2026, 11, 23, 18, 59, 37, 500000, tzinfo=datetime.timezone.utc)
    assert parse_dmtf("20000101000000.000000-300").utcoffset() == datetime.timedelta(hours=-5)


def test_a_bad_dmtf_date_is_named():
    try:
        parse_dmtf("2026-11-23")
    except ValueError as error:
        assert "2026-11-23" in str(error)
    else:
        raise AssertionError("accepted a non-DMTF date")

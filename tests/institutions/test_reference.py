"""The national division table, the disease seed and parameter defaults (ID-2, ID-4)."""

import pytest

from institutions import reference
from institutions.models import Disease, PolicyParameter, Region

pytestmark = pytest.mark.django_db


def active(**filters):
    return Region.objects.filter(active=True, **filters)


def test_every_guangxi_county_and_prefecture_is_loaded(regions):
    assert active(code__startswith="45", level=Region.Level.COUNTY).count() == 111
    assert active(code__startswith="45", level=Region.Level.PREFECTURE).count() == 14


def test_hechi_and_liuzhou_counties_sit_under_their_cities(regions):
    hechi = set(active(parent_id="451200").values_list("code", flat=True))
    liuzhou = set(active(parent_id="450200").values_list("code", flat=True))
    assert len(hechi) == 11
    assert len(liuzhou) == 10
    assert {"451202", "451203", "451229"} <= hechi
    assert {"450202", "450206", "450226"} <= liuzhou
    jinchengjiang = Region.objects.get(code="451202")
    assert jinchengjiang.full_name == "广西壮族自治区河池市金城江区"
    assert jinchengjiang.prefecture_id == "451200"
    assert jinchengjiang.in_guangxi


def test_the_whole_country_is_loaded(regions):
    assert active(level=Region.Level.PROVINCE).count() == 34
    assert 3100 <= active().count() <= 3300
    # Districts of a municipality belong to it; counties under a province are their own unit.
    assert Region.objects.get(code="110101").prefecture_id == "110000"
    assert Region.objects.get(code="469001").prefecture_id == "469001"


@pytest.mark.parametrize(
    ("code", "name", "parent"),
    [
        ("451281", "宜州市", "451200"),
        ("450221", "柳江县", "450200"),
        ("452700", "河池地区", "450000"),
    ],
)
def test_historical_codes_are_kept_inactive(regions, code, name, parent):
    region = Region.objects.get(code=code)
    assert not region.active
    assert region.name == name
    assert region.parent_id == parent
    assert region.abolished_year is not None


def test_loading_twice_changes_nothing(regions):
    before = list(Region.objects.order_by("code").values())
    reports = reference.load_all()
    assert [(r.created, r.updated) for r in reports] == [(0, 0), (0, 0), (0, 0)]
    assert list(Region.objects.order_by("code").values()) == before


def test_loading_repairs_a_changed_region(regions):
    Region.objects.filter(code="451202").update(name="错误名称")
    report = reference.load_regions()
    assert report.updated == 1
    assert Region.objects.get(code="451202").name == "金城江区"


def test_disease_seed_has_the_national_cross_province_list(regions):
    assert Disease.objects.count() >= 30
    flagged = set(Disease.objects.filter(cross_province=True).values_list("code", flat=True))
    assert flagged == {
        "M03900",
        "M01600",
        "M00503",
        "M07803",
        "M07804",
        "M08300",
        "M05300",
        "M00201",
        "M04600",
        "M06900",
        "M07200",
    }
    assert all(d.note == reference.SEED_NOTE for d in Disease.objects.all())


def test_disease_seed_keeps_what_administrators_changed(regions):
    Disease.objects.filter(code="M03900").update(name="高血压（已核对）")
    reference.load_diseases()
    assert Disease.objects.get(code="M03900").name == "高血压（已核对）"


def test_exclusive_pairs_are_symmetrical(regions):
    haemo = Disease.objects.get(code="M07803")
    peritoneal = Disease.objects.get(code="M07804")
    assert peritoneal in haemo.exclusive_with.all()
    assert haemo in peritoneal.exclusive_with.all()


def test_every_parameter_has_a_default_value(regions):
    from institutions.parameters import SPECS

    assert set(PolicyParameter.objects.values_list("key", flat=True)) == set(SPECS)

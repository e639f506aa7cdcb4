import Foundation

/// CAP as it arrives from real feeds, written for these tests after the shape of public examples: older versions,
/// legacy encodings and HTML in the free text. Byte-level fixtures are built by hand (Latin-1 is one byte per code point;
/// the GBK, Big5 and windows-1252 bytes were checked with iconv), never with the Foundation converter under test.
enum CAPFieldFixtures {
    /// A CAP 1.1 severe-thunderstorm warning in the style of a national weather service feed: `Very Likely` (deprecated
    /// in 1.1), HTML-free, with an approximate resource size that does not match (1.1 sizes were approximate).
    static let thunderstorm11 = """
        <?xml version="1.0" encoding="UTF-8"?>
        <alert xmlns="urn:oasis:names:tc:emergency:cap:1.1">
          <identifier>NWS-TSTORM-2026-0917-0042</identifier>
          <sender>w-nws.webmaster@noaa.example.gov</sender>
          <sent>2026-09-17T15:42:00-05:00</sent>
          <status>Actual</status>
          <msgType>Alert</msgType>
          <scope>Public</scope>
          <note>Issued by the forecast office</note>
          <info>
            <category>Met</category>
            <event>Severe Thunderstorm Warning</event>
            <responseType>Shelter</responseType>
            <urgency>Immediate</urgency>
            <severity>Severe</severity>
            <certainty>Very Likely</certainty>
            <eventCode><valueName>SAME</valueName><value>SVR</value></eventCode>
            <expires>2026-09-17T16:30:00-05:00</expires>
            <senderName>Forecast Office</senderName>
            <headline>Severe thunderstorm warning until 4:30 PM CDT</headline>
            <description>At 3:40 PM CDT, radar showed a severe thunderstorm 8 miles west of the town, moving east at 35 mph.
        Hail up to one inch and wind gusts to 60 mph are expected.</description>
            <instruction>Move to an interior room on the lowest floor of a sturdy building.</instruction>
            <area>
              <areaDesc>Polk County</areaDesc>
              <polygon>41.76,-93.88 41.59,-93.91 41.60,-93.35 41.77,-93.36 41.76,-93.88</polygon>
              <geocode><valueName>FIPS6</valueName><value>019153</value></geocode>
            </area>
          </info>
        </alert>
        """

    /// A CAP 1.0 earthquake notice (the namespace before OASIS adopted CAP, and its `Very Likely`).
    static let earthquake10 = """
        <?xml version="1.0" encoding="UTF-8"?>
        <alert xmlns="http://www.incident.com/cap/1.0">
          <identifier>USGS-EQ-2026-nc7314</identifier>
          <sender>quake-alerts@usgs.example.gov</sender>
          <sent>2026-03-04T06:12:33-08:00</sent>
          <status>Actual</status>
          <msgType>Alert</msgType>
          <scope>Public</scope>
          <info>
            <category>Geo</category>
            <event>Earthquake</event>
            <urgency>Past</urgency>
            <severity>Minor</severity>
            <certainty>Very Likely</certainty>
            <headline>M 3.4 earthquake, 5 km north of the bay</headline>
            <area><areaDesc>Northern California</areaDesc></area>
          </info>
        </alert>
        """

    /// A CAP 1.2 flood watch from a Canadian (French) feed, declared and encoded ISO-8859-1.
    static let floodLatin1Text = """
        <?xml version="1.0" encoding="ISO-8859-1"?>
        <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
          <identifier>EC-QC-2026-04-18-CRUE-07</identifier>
          <sender>alertes@meteo.example.ca</sender>
          <sent>2026-04-18T07:30:00-04:00</sent>
          <status>Actual</status>
          <msgType>Alert</msgType>
          <scope>Public</scope>
          <info>
            <language>fr-CA</language>
            <category>Met</category>
            <event>Crue printanière</event>
            <urgency>Expected</urgency>
            <severity>Moderate</severity>
            <certainty>Likely</certainty>
            <expires>2026-04-19T07:30:00-04:00</expires>
            <senderName>Météo Québec</senderName>
            <headline>Veille de crue pour la rivière Chaudière</headline>
            <description>La fonte rapide de la neige fera monter le débit de la rivière; des débordements sont possibles près de Saint-Georges.</description>
            <instruction>Évitez les abords de la rivière et préparez-vous à évacuer.</instruction>
            <area><areaDesc>Beauce–Sartigan (Québec)</areaDesc></area>
          </info>
        </alert>
        """

    /// `floodLatin1Text` as ISO-8859-1 bytes: each code point up to U+00FF is one byte of the same value.
    static var floodLatin1: Data {
        let text = floodLatin1Text.replacingOccurrences(of: "–", with: "-")
        return Data(
            text.unicodeScalars.map { scalar in
                precondition(scalar.value <= 0xFF, "not Latin-1: \(scalar)")
                return UInt8(scalar.value)
            })
    }

    /// An alert whose headline and description are given as raw bytes in a legacy encoding.
    static func alert(encoding: String, headline: [UInt8], description: [UInt8] = Array("-".utf8)) -> Data {
        var data = Data(
            """
            <?xml version="1.0" encoding="\(encoding)"?>
            <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
              <identifier>ENC-TEST-1</identifier>
              <sender>alerts@county.example.cn</sender>
              <sent>2026-11-30T09:15:00+08:00</sent>
              <status>Actual</status>
              <msgType>Alert</msgType>
              <scope>Public</scope>
              <info>
                <category>Geo</category>
                <event>Earthquake</event>
                <urgency>Immediate</urgency>
                <severity>Severe</severity>
                <certainty>Observed</certainty>
                <headline>
            """.utf8)
        data.append(contentsOf: headline)
        data.append(contentsOf: Array("</headline>\n    <description>".utf8))
        data.append(contentsOf: description)
        data.append(contentsOf: Array("</description>\n  </info>\n</alert>\n".utf8))
        return data
    }

    /// 地震预警 in GBK (and so in GB2312 and GB18030), from `iconv -t GBK`.
    static let earthquakeWarningGBK: [UInt8] = [0xB5, 0xD8, 0xD5, 0xF0, 0xD4, 0xA4, 0xBE, 0xAF]
    /// 𠀀 (U+20000), a character only GB18030's four-byte form can carry.
    static let gb18030FourByte: [UInt8] = [0x95, 0x32, 0x82, 0x36]
    /// 地震 in Big5.
    static let earthquakeBig5: [UInt8] = [0xA6, 0x61, 0xBE, 0x5F]
    /// €“–” in windows-1252 (bytes ISO-8859-1 leaves to C1 controls).
    static let punctuation1252: [UInt8] = [0x80, 0x93, 0x96, 0x94]

    /// A description as feeds really send it: escaped HTML paragraphs, a raw `<br />`, `&amp;nbsp;` and a link.
    static let htmlDescription = """
        <?xml version="1.0" encoding="UTF-8"?>
        <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
          <identifier>HTML-2026-0001</identifier>
          <sender>alerts@city.example.org</sender>
          <sent>2026-06-01T12:00:00+08:00</sent>
          <status>Actual</status>
          <msgType>Alert</msgType>
          <scope>Public</scope>
          <info>
            <language>en-US</language>
            <category>Met</category>
            <event>Heat</event>
            <urgency>Expected</urgency>
            <severity>Moderate</severity>
            <certainty>Likely</certainty>
            <headline>Heat &lt;b&gt;advisory&lt;/b&gt;</headline>
            <description>&lt;p&gt;Temperatures up to 38&amp;deg;C.&lt;/p&gt;&lt;p&gt;Stay&amp;nbsp;indoors &amp;amp; drink water.&lt;/p&gt;</description>
            <instruction>Check on neighbours.<br />See <a href="https://city.example.org/heat">the city's page</a>.<script>alert(1)</script></instruction>
          </info>
        </alert>
        """
}

import Foundation

/// Realistic CAP 1.2 alerts written for these tests. Times are Beijing time (+08:00) as a Chinese feed sends them.
enum CAPFixtures {
    /// An earthquake early warning: Extreme / Immediate, English info first so language choice is exercised.
    static let earthquake = """
        <?xml version="1.0" encoding="UTF-8"?>
        <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
          <identifier>CENC-EEW-20261121080000-0001</identifier>
          <sender>eew@cenc.example.cn</sender>
          <sent>2026-11-21T08:00:00+08:00</sent>
          <status>Actual</status>
          <msgType>Alert</msgType>
          <scope>Public</scope>
          <info>
            <language>en-US</language>
            <category>Geo</category>
            <event>Earthquake</event>
            <urgency>Immediate</urgency>
            <severity>Extreme</severity>
            <certainty>Observed</certainty>
            <expires>2026-11-21T08:30:00+08:00</expires>
            <senderName>China Earthquake Networks Center</senderName>
            <headline>Earthquake early warning</headline>
            <description>A magnitude 6.1 earthquake occurred 42 km north-west of the township.</description>
            <instruction>Take cover away from windows. Do not use lifts.</instruction>
            <area><areaDesc>Lushan county</areaDesc></area>
          </info>
          <info>
            <language>zh-CN</language>
            <category>Geo</category>
            <event>地震</event>
            <urgency>Immediate</urgency>
            <severity>Extreme</severity>
            <certainty>Observed</certainty>
            <onset>2026-11-21T07:59:48+08:00</onset>
            <expires>2026-11-21T08:30:00+08:00</expires>
            <senderName>中国地震台网中心</senderName>
            <headline>地震预警</headline>
            <description>镇西北42公里处发生6.1级地震，预计15秒后到达本村。</description>
            <instruction>请立即就近躲避，远离门窗，不要乘坐电梯。</instruction>
            <area>
              <areaDesc>芦山县及周边乡镇</areaDesc>
              <circle>30.15,102.93 60</circle>
            </area>
          </info>
        </alert>
        """

    /// A flood warning: Severe / Expected, with a map on the web (not audio: tolerated) and a recording on the station.
    /// Carries an XML signature, which is another namespace and must be skipped.
    static let flood = """
        <?xml version="1.0" encoding="UTF-8"?>
        <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
          <identifier>SW-FLOOD-2026-0713</identifier>
          <sender>flood@hydrology.example.cn</sender>
          <sent>2026-07-13T16:20:00+08:00</sent>
          <status>Actual</status>
          <msgType>Alert</msgType>
          <scope>Public</scope>
          <info>
            <language>zh-CN</language>
            <category>Met</category>
            <event>洪水</event>
            <urgency>Expected</urgency>
            <severity>Severe</severity>
            <certainty>Likely</certainty>
            <expires>2026-07-14T08:00:00+08:00</expires>
            <senderName>县水文站</senderName>
            <headline>洪水橙色预警</headline>
            <description>受持续强降雨影响，青衣江水位将于今晚超过警戒水位。</description>
            <instruction>沿河低洼地带村民请于20时前转移至村委会。</instruction>
            <resource>
              <resourceDesc>淹没范围图</resourceDesc>
              <mimeType>image/png</mimeType>
              <uri>https://hydrology.example.cn/maps/0713.png</uri>
            </resource>
            <resource>
              <resourceDesc>预录播报</resourceDesc>
              <mimeType>audio/x-wav</mimeType>
              <uri>alerts/flood-warning.wav</uri>
            </resource>
            <area><areaDesc>青衣江沿岸各村</areaDesc></area>
          </info>
          <Signature xmlns="http://www.w3.org/2000/09/xmldsig#">
            <SignedInfo><identifier>not-a-cap-field</identifier></SignedInfo>
            <SignatureValue>c2lnbmF0dXJl</SignatureValue>
          </Signature>
        </alert>
        """

    /// A county-wide severe-weather exercise: a drill, Moderate / Future, UTC written as -00:00.
    static let weatherExercise = """
        <?xml version="1.0" encoding="UTF-8"?>
        <cap:alert xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2">
          <cap:identifier>MET-DRILL-2026-11</cap:identifier>
          <cap:sender>drill@weather.example.cn</cap:sender>
          <cap:sent>2026-11-20T01:00:00-00:00</cap:sent>
          <cap:status>Exercise</cap:status>
          <cap:msgType>Alert</cap:msgType>
          <cap:scope>Public</cap:scope>
          <cap:note>县应急管理局年度演练</cap:note>
          <cap:info>
            <cap:language>zh-CN</cap:language>
            <cap:category>Met</cap:category>
            <cap:category>Safety</cap:category>
            <cap:event>大风暴雨演练</cap:event>
            <cap:urgency>Future</cap:urgency>
            <cap:severity>Moderate</cap:severity>
            <cap:certainty>Possible</cap:certainty>
            <cap:headline>【演练】大风暴雨蓝色预警</cap:headline>
            <cap:description><![CDATA[这是一次演练。预计明天有8级大风 & 暴雨。]]></cap:description>
          </cap:info>
        </cap:alert>
        """

    /// An update of the flood warning: the river rose faster, now Extreme / Immediate.
    static let floodUpdate = """
        <?xml version="1.0" encoding="UTF-8"?>
        <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
          <identifier>SW-FLOOD-2026-0713-U1</identifier>
          <sender>flood@hydrology.example.cn</sender>
          <sent>2026-07-13T18:05:00+08:00</sent>
          <status>Actual</status>
          <msgType>Update</msgType>
          <scope>Public</scope>
          <references>flood@hydrology.example.cn,SW-FLOOD-2026-0713,2026-07-13T16:20:00+08:00</references>
          <info>
            <language>zh-CN</language>
            <category>Met</category>
            <event>洪水</event>
            <urgency>Immediate</urgency>
            <severity>Extreme</severity>
            <certainty>Observed</certainty>
            <expires>2026-07-14T12:00:00+08:00</expires>
            <headline>洪水红色预警</headline>
            <description>青衣江水位已超过保证水位。</description>
            <instruction>沿河村民立即转移到高处。</instruction>
          </info>
        </alert>
        """

    /// A second update, referencing both earlier messages (CAP lists the whole chain).
    static let floodUpdate2 = """
        <?xml version="1.0" encoding="UTF-8"?>
        <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
          <identifier>SW-FLOOD-2026-0713-U2</identifier>
          <sender>flood@hydrology.example.cn</sender>
          <sent>2026-07-13T21:40:00+08:00</sent>
          <status>Actual</status>
          <msgType>Update</msgType>
          <scope>Public</scope>
          <references>
            flood@hydrology.example.cn,SW-FLOOD-2026-0713,2026-07-13T16:20:00+08:00
            flood@hydrology.example.cn,SW-FLOOD-2026-0713-U1,2026-07-13T18:05:00+08:00
          </references>
          <info>
            <language>zh-CN</language>
            <category>Met</category>
            <event>洪水</event>
            <urgency>Expected</urgency>
            <severity>Moderate</severity>
            <certainty>Likely</certainty>
            <expires>2026-07-14T12:00:00+08:00</expires>
            <headline>洪水黄色预警</headline>
            <description>青衣江水位开始回落。</description>
          </info>
        </alert>
        """

    /// The all-clear: cancels the whole chain; a Cancel needs no info.
    static let floodCancel = """
        <?xml version="1.0" encoding="UTF-8"?>
        <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
          <identifier>SW-FLOOD-2026-0713-C</identifier>
          <sender>flood@hydrology.example.cn</sender>
          <sent>2026-07-14T06:00:00+08:00</sent>
          <status>Actual</status>
          <msgType>Cancel</msgType>
          <scope>Public</scope>
          <references>flood@hydrology.example.cn,SW-FLOOD-2026-0713,2026-07-13T16:20:00+08:00 flood@hydrology.example.cn,SW-FLOOD-2026-0713-U1,2026-07-13T18:05:00+08:00 flood@hydrology.example.cn,SW-FLOOD-2026-0713-U2,2026-07-13T21:40:00+08:00</references>
        </alert>
        """

    /// The embedded recording: 50 ms of 800 Hz, 8 kHz mono 16-bit WAV (844 bytes), made with sox; size and SHA-1
    /// computed with ls and sha1sum, independently of the code under test.
    static let embeddedSize = 844
    static let embeddedSHA1 = "de8772bfff364ccdcf8e6d257d9b792a8362e2bc"
    static let embeddedBase64 = """
                UklGRkQDAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YSADAABGBOskPj2XPNwlyv+T
                2vXCTMM72iQAfyX7PMQ8tSXt/3HaFcMtw1raBQCcJd883jycJQMAXdonwx3DZ9r6/6Ql2DzjPJkl
                BABe2ifDHsNk2v3/oCXdPN88niUAAGLaIsMjw2HaAACdJd883jyfJf//YtoiwyPDYtoAAJ4l3jze
                PJ8lAABi2iPDIsNi2gAAniXePN08niUAAGLaIsMiw2LaAACfJd483TyeJQAAYdoiwyLDYtoAAJ4l
                3jzePJ4lAQBi2iPDIsNj2gAAniXePN48nyUAAGHaIsMhw2La//+eJd483jyfJQEAYtoiwyHDYtoA
                AJ8l3zzdPJ8lAABi2iLDIsNi2gAAniXfPN48niUAAGLaIcMiw2LaAACeJd483TyfJQEAYtohwyLD
                YtoAAJ4l3jzePJ4l//9h2iHDIsNi2gAAniXePN48niUAAGHaIsMhw2HaAACfJd483jyfJQAAYdoi
                wyLDYtoAAJ8l3TzePJ4lAABi2iPDIsNi2gAAnyXfPN48niUAAGLaIsMiw2PaAACeJd483zyeJQAA
                YtohwyLDYdr//54l3jzePJ4lAABi2iLDIsNi2gAAniXePN08niUBAGHaIsMiw2HaAACeJd483jyf
                JQAAYtohwyLDYtoAAJ4l3jzfPJ4lAABi2iLDIsNi2gEAniXePN48nyUAAGLaIsMiw2LaAACeJd88
                3jyeJQAAYtoiwyLDYtoAAJ8l3zzePJ4lAABi2iHDIsNh2v//niXePN88niUAAGLaIsMiw2HaAACe
                Jd883jyeJQAAYtoiwyHDYtoAAJ4l3jzdPJ4lAABh2iLDIsNi2gAAniXePN88nyX//2LaIsMiw2La
                AACfJd483jyfJQAAYtoiwyLDYtoAAJ4l3TzdPJ4lAQBi2iLDIsNi2v//oCXePN88niUBAGDaI8Mh
                w2La//+fJd483zyeJQAAYtohwyTDX9oCAJwl4jzaPKMl+/9o2hzDKMNc2gYAmSXjPNk8oiX9/2Pa
                IsMhw2Xa+/+mJdQ86zyOJRQAS9o8wwTDgdrd/8UltTwNPW0lNwAl2mrDwsIU2w==
        """

    /// A landslide alert carrying the recording inline.
    static let landslideWithRecording = """
        <?xml version="1.0" encoding="UTF-8"?>
        <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
          <identifier>GEO-SLIDE-2026-0042</identifier>
          <sender>geohazard@county.example.cn</sender>
          <sent>2026-08-02T03:10:00+08:00</sent>
          <status>Actual</status>
          <msgType>Alert</msgType>
          <scope>Public</scope>
          <info>
            <language>zh-CN</language>
            <category>Geo</category>
            <event>山体滑坡</event>
            <urgency>Immediate</urgency>
            <severity>Severe</severity>
            <certainty>Likely</certainty>
            <headline>地质灾害预警</headline>
            <resource>
              <resourceDesc>县应急局预录播报</resourceDesc>
              <mimeType>audio/x-wav</mimeType>
              <size>\(embeddedSize)</size>
              <derefUri>
        \(embeddedBase64)
              </derefUri>
              <digest>\(embeddedSHA1)</digest>
            </resource>
          </info>
        </alert>
        """
}

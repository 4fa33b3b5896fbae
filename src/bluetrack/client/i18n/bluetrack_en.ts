<?xml version='1.0' encoding='utf-8'?>
<TS version="2.1" language="en_US">
<context>
    <name>MainPage</name>
    <message numerus="yes">
        <location filename="../views/main_page.py" line="95" />
        <source>%n genre(s)</source>
        <translation><numerusform>%n genre</numerusform><numerusform>%n genres</numerusform></translation>
    </message>
    <message numerus="yes">
        <location filename="../views/main_page.py" line="96" />
        <source>%n track(s)</source>
        <translation><numerusform>%n track</numerusform><numerusform>%n tracks</numerusform></translation>
    </message>
</context>
<context>
    <name>ShelfRow</name>
    <message numerus="yes">
        <location filename="../views/shelves.py" line="108" />
        <source>%n track(s)</source>
        <translation><numerusform>%n track</numerusform><numerusform>%n tracks</numerusform></translation>
    </message>
</context>
<context>
    <name>Wording</name>
    <message numerus="yes">
        <location filename="../wording.py" line="68" />
        <source>Try again in %n second(s).</source>
        <translation><numerusform>Try again in %n second.</numerusform><numerusform>Try again in %n seconds.</numerusform></translation>
    </message>
</context>
</TS>
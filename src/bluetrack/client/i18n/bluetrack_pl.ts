<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="pl_PL">
<context>
    <name>ChartPanel</name>
    <message>
        <location filename="../views/chart_panel.py" line="62"/>
        <source>Top 5 genres</source>
        <translation>Top 5 gatunków</translation>
    </message>
    <message>
        <location filename="../views/chart_panel.py" line="76"/>
        <source>Now</source>
        <translation>Teraz</translation>
    </message>
    <message>
        <location filename="../views/chart_panel.py" line="77"/>
        <source>Trending</source>
        <translation>Na fali</translation>
    </message>
    <message>
        <location filename="../views/chart_panel.py" line="78"/>
        <source>All time</source>
        <translation>Wszech czasów</translation>
    </message>
    <message>
        <location filename="../views/chart_panel.py" line="114"/>
        <source>Waiting for the first chart…</source>
        <translation>Czekam na pierwsze notowanie…</translation>
    </message>
    <message>
        <location filename="../views/chart_panel.py" line="116"/>
        <source>Computed at %1</source>
        <translation>Obliczono o %1</translation>
    </message>
    <message>
        <location filename="../views/chart_panel.py" line="118"/>
        <source>window %1–%2</source>
        <translation>okno %1–%2</translation>
    </message>
    <message>
        <location filename="../views/chart_panel.py" line="123"/>
        <source>Nobody is listening right now.</source>
        <translation>Nikt teraz nie słucha.</translation>
    </message>
    <message>
        <location filename="../views/chart_panel.py" line="124"/>
        <source>No plays counted in this window yet.</source>
        <translation>W tym oknie nie policzono jeszcze odtworzeń.</translation>
    </message>
    <message>
        <location filename="../views/chart_panel.py" line="125"/>
        <source>No plays counted yet.</source>
        <translation>Nie policzono jeszcze żadnych odtworzeń.</translation>
    </message>
</context>
<context>
    <name>ClientController</name>
    <message>
        <location filename="../controller.py" line="171"/>
        <source>Account created. Log in to start listening.</source>
        <translation>Konto utworzone. Zaloguj się, aby zacząć słuchać.</translation>
    </message>
    <message>
        <location filename="../controller.py" line="214"/>
        <source>Resuming your session…</source>
        <translation>Wznawiam sesję…</translation>
    </message>
    <message>
        <location filename="../controller.py" line="229"/>
        <source>Can&apos;t resume your session yet: %1 Trying again by itself.</source>
        <translation>Nie mogę jeszcze wznowić sesji: %1 Ponowię próbę sam.</translation>
    </message>
    <message>
        <location filename="../controller.py" line="235"/>
        <source>Your saved session has ended. Please log in again.</source>
        <translation>Zapamiętana sesja wygasła. Zaloguj się ponownie.</translation>
    </message>
    <message>
        <location filename="../controller.py" line="242"/>
        <location filename="../controller.py" line="381"/>
        <source>Loading shelves…</source>
        <translation>Wczytuję półki…</translation>
    </message>
    <message>
        <location filename="../controller.py" line="276"/>
        <source>The shelves will appear as soon as the server answers.</source>
        <translation>Półki pojawią się, gdy tylko serwer odpowie.</translation>
    </message>
    <message>
        <location filename="../controller.py" line="353"/>
        <source>You have logged out.</source>
        <translation>Wylogowano.</translation>
    </message>
    <message>
        <location filename="../controller.py" line="366"/>
        <source>Logged out here; the server could not be told, its session expires by itself.</source>
        <translation>Wylogowano na tym komputerze; serwera nie udało się powiadomić, jego sesja wygaśnie sama.</translation>
    </message>
    <message>
        <location filename="../controller.py" line="373"/>
        <source>Your session has ended. Please log in again.</source>
        <translation>Twoja sesja się zakończyła. Zaloguj się ponownie.</translation>
    </message>
</context>
<context>
    <name>FormPage</name>
    <message>
        <location filename="../views/forms.py" line="131"/>
        <source>Listen, and watch what everyone is listening to, live.</source>
        <translation>Słuchaj i patrz na żywo, czego słuchają wszyscy.</translation>
    </message>
    <message>
        <location filename="../views/forms.py" line="138"/>
        <source>• Twenty genre shelves, new ones on every refresh</source>
        <translation>• Dwadzieścia półek z gatunkami, nowe przy każdym odświeżeniu</translation>
    </message>
    <message>
        <location filename="../views/forms.py" line="139"/>
        <source>• One click to play, one to stop</source>
        <translation>• Jedno kliknięcie, by odtworzyć, drugie, by zatrzymać</translation>
    </message>
    <message>
        <location filename="../views/forms.py" line="140"/>
        <source>• Live Top 5 genres: now, trending and all time</source>
        <translation>• Top 5 gatunków na żywo: teraz, na fali i wszech czasów</translation>
    </message>
</context>
<context>
    <name>LoginPage</name>
    <message>
        <location filename="../views/login.py" line="17"/>
        <source>Welcome back</source>
        <translation>Witaj ponownie</translation>
    </message>
    <message>
        <location filename="../views/login.py" line="17"/>
        <source>Log in with your username or e-mail address.</source>
        <translation>Zaloguj się nazwą użytkownika lub adresem e-mail.</translation>
    </message>
    <message>
        <location filename="../views/login.py" line="20"/>
        <source>Username or e-mail</source>
        <translation>Nazwa użytkownika lub e-mail</translation>
    </message>
    <message>
        <location filename="../views/login.py" line="20"/>
        <source>name or you@example.com</source>
        <translation>nazwa lub ty@example.com</translation>
    </message>
    <message>
        <location filename="../views/login.py" line="23"/>
        <source>Password</source>
        <translation>Hasło</translation>
    </message>
    <message>
        <location filename="../views/login.py" line="23"/>
        <source>Your password</source>
        <translation>Twoje hasło</translation>
    </message>
    <message>
        <location filename="../views/login.py" line="25"/>
        <source>Remember me on this computer</source>
        <translation>Zapamiętaj mnie na tym komputerze</translation>
    </message>
    <message>
        <location filename="../views/login.py" line="26"/>
        <location filename="../views/login.py" line="65"/>
        <source>Log in</source>
        <translation>Zaloguj się</translation>
    </message>
    <message>
        <location filename="../views/login.py" line="27"/>
        <source>New here? Create an account</source>
        <translation>Pierwszy raz? Załóż konto</translation>
    </message>
    <message>
        <location filename="../views/login.py" line="44"/>
        <source>Enter your username or e-mail.</source>
        <translation>Podaj nazwę użytkownika lub e-mail.</translation>
    </message>
    <message>
        <location filename="../views/login.py" line="48"/>
        <source>Enter your password.</source>
        <translation>Podaj hasło.</translation>
    </message>
    <message>
        <location filename="../views/login.py" line="65"/>
        <source>Logging in…</source>
        <translation>Logowanie…</translation>
    </message>
</context>
<context>
    <name>MainPage</name>
    <message>
        <location filename="../views/main_page.py" line="29"/>
        <source>⟳  New shelves</source>
        <translation>⟳  Nowe półki</translation>
    </message>
    <message>
        <location filename="../views/main_page.py" line="30"/>
        <source>Get a new random set of genres and tracks (F5)</source>
        <translation>Wylosuj nowy zestaw gatunków i utworów (F5)</translation>
    </message>
    <message>
        <location filename="../views/main_page.py" line="34"/>
        <source>⎋  Log out</source>
        <translation>⎋  Wyloguj</translation>
    </message>
    <message>
        <location filename="../views/main_page.py" line="58"/>
        <source>Signed in as</source>
        <translation>Zalogowano jako</translation>
    </message>
    <message>
        <location filename="../views/main_page.py" line="72"/>
        <source>Browse by genre</source>
        <translation>Przeglądaj według gatunku</translation>
    </message>
    <message>
        <location filename="../views/main_page.py" line="94"/>
        <source>Loading a new set of shelves…</source>
        <translation>Wczytuję nowy zestaw półek…</translation>
    </message>
    <message numerus="yes">
        <location filename="../views/main_page.py" line="98"/>
        <source>%n genre(s)</source>
        <translation>
            <numerusform>%n gatunek</numerusform>
            <numerusform>%n gatunki</numerusform>
            <numerusform>%n gatunków</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location filename="../views/main_page.py" line="99"/>
        <source>%n track(s)</source>
        <translation>
            <numerusform>%n utwór</numerusform>
            <numerusform>%n utwory</numerusform>
            <numerusform>%n utworów</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../views/main_page.py" line="101"/>
        <source>%1 and %2, picked at random. Space plays the focused track.</source>
        <translation>%1 i %2, wybrane losowo. Spacja odtwarza zaznaczony utwór.</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <location filename="../views/main_window.py" line="23"/>
        <source>BlueTrack</source>
        <translation>BlueTrack</translation>
    </message>
</context>
<context>
    <name>PlayerBar</name>
    <message>
        <location filename="../views/player_bar.py" line="33"/>
        <location filename="../views/player_bar.py" line="34"/>
        <source>Stop</source>
        <translation>Zatrzymaj</translation>
    </message>
    <message>
        <location filename="../views/player_bar.py" line="66"/>
        <source>Untitled</source>
        <translation>Bez tytułu</translation>
    </message>
    <message>
        <location filename="../views/player_bar.py" line="67"/>
        <source>Unknown artist</source>
        <translation>Nieznany wykonawca</translation>
    </message>
    <message>
        <location filename="../views/player_bar.py" line="79"/>
        <source>Nothing playing</source>
        <translation>Nic nie gra</translation>
    </message>
    <message>
        <location filename="../views/player_bar.py" line="80"/>
        <source>Pick a track and press Play (or Space)</source>
        <translation>Wybierz utwór i naciśnij Odtwórz (lub Spację)</translation>
    </message>
</context>
<context>
    <name>RegisterPage</name>
    <message>
        <location filename="../views/register.py" line="17"/>
        <source>Create your account</source>
        <translation>Załóż konto</translation>
    </message>
    <message>
        <location filename="../views/register.py" line="18"/>
        <source>It takes a few seconds. Your password never leaves this computer unsealed.</source>
        <translation>To zajmie kilka sekund. Hasło nigdy nie opuszcza tego komputera niezaszyfrowane.</translation>
    </message>
    <message>
        <location filename="../views/register.py" line="21"/>
        <source>Username</source>
        <translation>Nazwa użytkownika</translation>
    </message>
    <message>
        <location filename="../views/register.py" line="21"/>
        <source>3 to 32 characters</source>
        <translation>od 3 do 32 znaków</translation>
    </message>
    <message>
        <location filename="../views/register.py" line="23"/>
        <source>E-mail</source>
        <translation>E-mail</translation>
    </message>
    <message>
        <location filename="../views/register.py" line="23"/>
        <source>you@example.com</source>
        <translation>ty@example.com</translation>
    </message>
    <message>
        <location filename="../views/register.py" line="25"/>
        <source>Password</source>
        <translation>Hasło</translation>
    </message>
    <message>
        <location filename="../views/register.py" line="26"/>
        <source>At least 8 characters</source>
        <translation>Co najmniej 8 znaków</translation>
    </message>
    <message>
        <location filename="../views/register.py" line="30"/>
        <location filename="../views/register.py" line="60"/>
        <source>Create account</source>
        <translation>Załóż konto</translation>
    </message>
    <message>
        <location filename="../views/register.py" line="31"/>
        <source>Already have an account? Log in</source>
        <translation>Masz już konto? Zaloguj się</translation>
    </message>
    <message>
        <location filename="../views/register.py" line="60"/>
        <source>Creating account…</source>
        <translation>Zakładam konto…</translation>
    </message>
</context>
<context>
    <name>ShelfRow</name>
    <message numerus="yes">
        <location filename="../views/shelves.py" line="108"/>
        <source>%n track(s)</source>
        <translation>
            <numerusform>%n utwór</numerusform>
            <numerusform>%n utwory</numerusform>
            <numerusform>%n utworów</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>ShelvesView</name>
    <message>
        <location filename="../views/shelves.py" line="148"/>
        <source>Loading shelves…</source>
        <translation>Wczytuję półki…</translation>
    </message>
    <message>
        <location filename="../views/shelves.py" line="158"/>
        <source>No tracks to show. Try New shelves.</source>
        <translation>Brak utworów do pokazania. Spróbuj „Nowe półki”.</translation>
    </message>
</context>
<context>
    <name>TrackTile</name>
    <message>
        <location filename="../views/shelves.py" line="40"/>
        <source>Untitled</source>
        <translation>Bez tytułu</translation>
    </message>
    <message>
        <location filename="../views/shelves.py" line="41"/>
        <source>Unknown artist</source>
        <translation>Nieznany wykonawca</translation>
    </message>
    <message>
        <location filename="../views/shelves.py" line="42"/>
        <source>%1 by %2</source>
        <translation>%1, wykonawca: %2</translation>
    </message>
    <message>
        <location filename="../views/shelves.py" line="74"/>
        <source>Stop</source>
        <translation>Zatrzymaj</translation>
    </message>
    <message>
        <location filename="../views/shelves.py" line="74"/>
        <source>Play</source>
        <translation>Odtwórz</translation>
    </message>
</context>
<context>
    <name>Wording</name>
    <message>
        <location filename="../wording.py" line="19"/>
        <source>A username has 3 to 32 characters: letters A-Z, digits, &apos;.&apos;, &apos;_&apos; or &apos;-&apos;, starting with a letter or digit.</source>
        <translation>Nazwa użytkownika ma od 3 do 32 znaków: litery A-Z, cyfry, „.”, „_” lub „-” i zaczyna się literą lub cyfrą.</translation>
    </message>
    <message>
        <location filename="../wording.py" line="25"/>
        <source>That doesn&apos;t look like an e-mail address.</source>
        <translation>To nie wygląda na adres e-mail.</translation>
    </message>
    <message>
        <location filename="../wording.py" line="27"/>
        <source>A password has at least 8 characters (and at most 72 bytes).</source>
        <translation>Hasło ma co najmniej 8 znaków (i najwyżej 72 bajty).</translation>
    </message>
    <message>
        <location filename="../wording.py" line="31"/>
        <source>That username is already taken. Try another one.</source>
        <translation>Ta nazwa użytkownika jest już zajęta. Wybierz inną.</translation>
    </message>
    <message>
        <location filename="../wording.py" line="33"/>
        <source>An account with that e-mail already exists. Log in instead?</source>
        <translation>Konto z tym adresem e-mail już istnieje. Może się zalogujesz?</translation>
    </message>
    <message>
        <location filename="../wording.py" line="37"/>
        <source>Wrong username, e-mail or password.</source>
        <translation>Błędna nazwa użytkownika, e-mail lub hasło.</translation>
    </message>
    <message>
        <location filename="../wording.py" line="39"/>
        <source>Too many attempts. Please wait a moment and try again.</source>
        <translation>Zbyt wiele prób. Odczekaj chwilę i spróbuj ponownie.</translation>
    </message>
    <message>
        <location filename="../wording.py" line="41"/>
        <source>Your session has ended. Please log in again.</source>
        <translation>Twoja sesja się zakończyła. Zaloguj się ponownie.</translation>
    </message>
    <message>
        <location filename="../wording.py" line="43"/>
        <source>The server could not read the request. Please log in again.</source>
        <translation>Serwer nie mógł odczytać żądania. Zaloguj się ponownie.</translation>
    </message>
    <message>
        <location filename="../wording.py" line="47"/>
        <source>The server doesn&apos;t know that track. Refresh the shelves.</source>
        <translation>Serwer nie zna tego utworu. Odśwież półki.</translation>
    </message>
    <message>
        <location filename="../wording.py" line="49"/>
        <source>Your computer&apos;s clock seems to be wrong, so the play was not counted.</source>
        <translation>Zegar tego komputera chyba się myli, więc odtworzenie nie zostało policzone.</translation>
    </message>
    <message>
        <location filename="../wording.py" line="53"/>
        <source>That play was already counted.</source>
        <translation>To odtworzenie zostało już policzone.</translation>
    </message>
    <message>
        <location filename="../wording.py" line="55"/>
        <source>The server did not accept the play. Please log in again.</source>
        <translation>Serwer nie przyjął odtworzenia. Zaloguj się ponownie.</translation>
    </message>
    <message>
        <location filename="../wording.py" line="57"/>
        <source>The server has a problem right now. Please try again shortly.</source>
        <translation>Serwer ma teraz problem. Spróbuj ponownie za chwilę.</translation>
    </message>
    <message>
        <location filename="../wording.py" line="61"/>
        <source>The server refused the request.</source>
        <translation>Serwer odrzucił żądanie.</translation>
    </message>
    <message numerus="yes">
        <location filename="../wording.py" line="68"/>
        <source>Try again in %n second(s).</source>
        <translation>
            <numerusform>Spróbuj ponownie za %n sekundę.</numerusform>
            <numerusform>Spróbuj ponownie za %n sekundy.</numerusform>
            <numerusform>Spróbuj ponownie za %n sekund.</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../wording.py" line="76"/>
        <source>The server didn&apos;t answer in time. Is it running?</source>
        <translation>Serwer nie odpowiedział na czas. Czy działa?</translation>
    </message>
    <message>
        <location filename="../wording.py" line="77"/>
        <location filename="../wording.py" line="106"/>
        <source>Can&apos;t reach the message broker. Check your connection.</source>
        <translation>Nie można połączyć się z brokerem wiadomości. Sprawdź połączenie.</translation>
    </message>
    <message>
        <location filename="../wording.py" line="98"/>
        <source>Connecting…</source>
        <translation>Łączenie…</translation>
    </message>
    <message>
        <location filename="../wording.py" line="99"/>
        <source>Connected</source>
        <translation>Połączono</translation>
    </message>
    <message>
        <location filename="../wording.py" line="102"/>
        <source>The server isn&apos;t answering. Retrying…</source>
        <translation>Serwer nie odpowiada. Ponawiam…</translation>
    </message>
    <message>
        <location filename="../wording.py" line="103"/>
        <source>The server isn&apos;t answering. Is it running?</source>
        <translation>Serwer nie odpowiada. Czy działa?</translation>
    </message>
    <message>
        <location filename="../wording.py" line="105"/>
        <source>Can&apos;t reach the message broker. Retrying…</source>
        <translation>Brak połączenia z brokerem wiadomości. Ponawiam…</translation>
    </message>
</context>
</TS>
